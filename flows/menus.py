"""The fixed menus of the report: incident types, agencies, employment status, identity.

Ids are stable (they are stored and used as button data); labels are catalog message ids
translated where they are shown. Aliases are the short words people type instead of the
label ("pemda", "bumn"), matched whatever the reporter's language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flows.i18n import N_


@dataclass(frozen=True, slots=True)
class MenuItem:
    id: str
    label: str
    explanation: str | None = None
    aliases: tuple[str, ...] = ()
    example: str | None = None
    """A real name of such an office, for the name question ("{region}": the region chosen)."""
    position_example: str | None = None
    summary: str | None = None
    """How the choice reads on its own, away from its question ("status unknown")."""
    asn_only: bool = False
    """An incident only a civil servant can commit: not offered where the person is not ASN."""
    not_asn_label: str | None = None
    not_asn_explanation: str | None = None
    """The incident worded for a person who is not ASN (a village head, a soldier)."""

    def for_not_asn(self) -> MenuItem:
        return replace(self, label=self.not_asn_label or self.label,
                       explanation=self.not_asn_explanation or self.explanation)


INCIDENT_TYPES: tuple[MenuItem, ...] = (
    MenuItem("alat_peraga", N_("Put up campaign props"),
             N_("put up a candidate's or party's banner, billboard or sticker"),
             aliases=("spanduk", "baliho", "stiker", "poster", "apk")),
    MenuItem("media_sosial", N_("Campaigning on social media"),
             N_("posts, comments, shares, likes, joining a candidate's group or account"),
             aliases=("medsos", "sosmed", "facebook", "instagram", "tiktok", "twitter", "youtube", "status wa")),
    MenuItem("foto_dukungan", N_("Photo/pose of support"),
             N_("photo with a candidate or campaign team showing a sign of support")),
    MenuItem("ikut_kampanye", N_("Joined a campaign/declaration"),
             N_("attended a campaign or declaration and took part")),
    MenuItem("atribut", N_("Campaigned wearing attributes"),
             N_("wore an ASN uniform or party attributes while campaigning"),
             not_asn_explanation=N_("wore an official uniform or party attributes while campaigning")),
    MenuItem("mobilisasi", N_("Mobilised staff"),
             N_("made subordinates or other ASN support a candidate"),
             not_asn_label=N_("Mobilised staff or residents"),
             not_asn_explanation=N_("made subordinates, village staff or residents support a candidate")),
    MenuItem("fasilitas_negara", N_("Used state facilities"),
             N_("official cars, offices, budget or official events used for a candidate"),
             not_asn_explanation=N_("official cars, offices, village funds, budget or official events used for a "
                                    "candidate")),
    MenuItem("kebijakan_memihak", N_("Partisan policy/service"),
             N_("programs, aid, permits, transfers or services that favour or hurt a candidate")),
    MenuItem("ajakan_barang", N_("Invitations & handing out goods"),
             N_("meetings, calls, or handing out goods to staff, families or residents"),
             aliases=("sembako", "amplop", "bagi bagi")),
    MenuItem("surat_dukungan", N_("Letters of support/ID cards"),
             N_("gave or collected letters of support or ID-card copies for a candidate")),
    MenuItem("anggota_parpol", N_("Party member/officer"),
             N_("member or officer of a political party")),
    MenuItem("tim_sukses", N_("Campaign team/consultant"),
             N_("on a candidate's campaign team or a consultant to one")),
    MenuItem("bakal_calon", N_("Would-be candidate still in office"),
             N_("active ASN courting parties or gathering ID cards as a would-be candidate"), asn_only=True),
    MenuItem("desa_berpihak", N_("Village head/staff took sides"),
             N_("village head or staff took sides (not ASN: village law track)")),
    MenuItem("lainnya", N_("Other"), N_("anything else, described freely")),
)
COMMON_INCIDENTS = ("media_sosial", "ikut_kampanye", "foto_dukungan", "ajakan_barang", "fasilitas_negara",
                    "mobilisasi")
"""Shown first, the rest behind "More…": social media is the commonest breach by far (27-30%
of those found in 2020 and 2024), then the kinds the welcome message names."""
VILLAGE_INCIDENT = "desa_berpihak"
"""Offered only where the agency is not known: where it is, the list already fits the person."""


def incident_types(group_id: str | None) -> tuple[MenuItem, ...]:
    """The incident kinds that fit the person reported, worded for them: a village head, a
    soldier or a state-company manager is offered no civil servant's breach."""
    group = agency_group(group_id)
    known = group is not None and group.id != "lainnya"
    asn = group is None or group.asn
    return tuple(item if asn else item.for_not_asn() for item in INCIDENT_TYPES
                 if not (item.asn_only and not asn) and not (item.id == VILLAGE_INCIDENT and known))


def incident(type_id: str | None, group_id: str | None) -> MenuItem | None:
    """An incident kind as it reads for the person reported (offered or not: a case filed
    before the menus fitted the person)."""
    item = find(INCIDENT_TYPES, type_id)
    group = agency_group(group_id)
    if item is None or group is None or group.asn:
        return item
    return item.for_not_asn()


DONT_KNOW = ("tidak tahu", "tidak tau", "tdk tahu", "tdk tau", "gak tahu", "gak tau", "ga tahu", "ga tau",
             "gk tahu", "gk tau", "nggak tahu", "nggak tau", "ngga tau", "enggak tahu", "ndak tahu", "ndak tau",
             "kurang tahu", "belum tahu", "entah", "don't know", "dont know", "unknown")
SKIP = ("lewati", "lewat", "skip", "tidak ada", "tdk ada", "gak ada", "ga ada", "nggak ada", "none", "-")
YES = ("ya", "iya", "iyaa", "yaa", "y", "yes", "ok", "oke", "okay", "okey", "baik", "boleh", "setuju",
       "ya setuju", "iya setuju", "saya setuju", "betul", "benar", "sip", "siap", "lanjut", "yup",
       "iya deh", "ya deh", "oke deh", "ok deh", "boleh deh", "baiklah", "iya boleh", "ya boleh", "mau",
       "ya mau", "iya mau", "yoi", "yap", "ayo", "yuk", "gas", "lanjutkan")
NO = ("tidak", "tdk", "gak", "ga", "gk", "nggak", "ngga", "enggak", "engga", "tak", "ndak", "no", "n", "nope",
      "jangan", "tidak mau", "gak mau", "ga mau", "gak setuju", "ga setuju", "nggak setuju", "tidak setuju",
      "gak jadi", "ga jadi", "gk jadi", "gak jd", "ga jd", "gk jd", "tdk jd", "nggak jadi", "enggak jadi",
      "tidak jadi", "tdk jadi", "batal",
      "gak usah", "ga usah", "gk usah", "nggak usah", "enggak usah", "tidak usah", "tdk usah", "tak usah",
      "jangan deh", "gak deh", "nggak deh", "enggak deh", "tidak deh", "nanti saja", "nanti aja", "ogah")
NEW_REPORT = ("lapor", "lapor lagi", "laporan baru", "laporan lagi", "mau lapor", "mau lapor lagi",
              "ingin lapor", "ingin melapor", "mau melapor", "lapor baru", "buat laporan", "buat laporan baru",
              "bikin laporan", "bikin laporan baru", "laporan lain", "baru", "new", "new report", "report again")
"""Words for a second report once one has been sent."""


OFFICE_NAME_QUESTION = N_("Type the name of the office (for example \"{example}\").")


@dataclass(frozen=True, slots=True)
class AgencyGroup:
    id: str
    label: str
    units: tuple[MenuItem, ...]
    aliases: tuple[str, ...] = ()
    asn: bool = True
    """False where the people are not ASN (village officials, state companies, TNI/Polri):
    the employment status is not asked, the case records "bukan_asn"."""
    name_question: str = OFFICE_NAME_QUESTION
    example: str = "Dinas Pendidikan {region}"
    position_example: str = "Camat"
    positions: tuple[MenuItem, ...] = ()
    """Positions offered as options at the position question (typed text still works)."""


AGENCY_GROUPS: tuple[AgencyGroup, ...] = (
    AgencyGroup("pemda", N_("Regional government"), (
        MenuItem("setda", N_("Regional/DPRD secretariat"), example="Sekretariat Daerah {region}",
                 position_example="Sekretaris Daerah"),
        MenuItem("dinas", N_("Dinas (service office)"), example="Dinas Pendidikan {region}",
                 position_example="Kepala Dinas"),
        MenuItem("badan", N_("Badan (agency)"), example="Badan Kepegawaian dan Pengembangan SDM {region}",
                 position_example="Kepala Bidang"),
        MenuItem("inspektorat", N_("Inspectorate/Satpol PP"), example="Satpol PP {region}",
                 position_example="Kepala Satpol PP"),
        MenuItem("kecamatan", N_("Kecamatan (district)"), example="Kecamatan Kuta Utara", position_example="Camat"),
        MenuItem("kelurahan", N_("Kelurahan (urban village)"), example="Kelurahan Kerobokan",
                 position_example="Lurah"),
        MenuItem("kesehatan", N_("Regional hospital/Puskesmas"), example="RSUD {region}",
                 position_example="Kepala Puskesmas"),
        MenuItem("sekolah", N_("State school"),
                 N_("TK/SD/SMP belong to the kabupaten/kota, SMA/SMK/SLB to the province"),
                 aliases=("sekolah",), example="SMP Negeri 1 Mengwi", position_example="Kepala Sekolah"),
    ), aliases=("pemda", "pemkab", "pemkot", "pemprov", "pemerintah daerah", "regional government")),
    AgencyGroup("pusat", N_("Central/vertical agency"), (
        MenuItem("kemenag", N_("Kemenag (KUA, madrasah)"), example="KUA Kecamatan Kuta Utara",
                 position_example="Kepala KUA"),
        MenuItem("atr_bpn", N_("ATR/BPN (land office)"), example="Kantor Pertanahan {region}"),
        MenuItem("pajak_bea", N_("Tax/Customs"), example="KPP Pratama Badung Utara"),
        MenuItem("bps", N_("BPS (statistics)"), example="BPS {region}"),
        MenuItem("imigrasi_lapas", N_("Immigration/prison"), example="Kantor Imigrasi Ngurah Rai"),
        MenuItem("kementerian_lain", N_("Another ministry or its unit"),
                 example="Balai Wilayah Sungai Bali-Penida"),
        MenuItem("ptn_rs", N_("State university or hospital"), example="Universitas Udayana",
                 position_example="Dosen"),
    ), aliases=("pusat", "vertikal", "instansi pusat", "instansi vertikal", "kementerian", "central"),
        position_example="Kepala Kantor"),
    AgencyGroup("desa", N_("Village"), (), aliases=("desa", "kades", "kepala desa", "perangkat desa", "bpd",
                                                    "village"),
                asn=False, name_question=N_("Type the name of the village (for example \"{example}\")."),
                example="Desa Dalung, Kecamatan Kuta Utara", position_example="Kepala desa",
                positions=(
                    MenuItem("kepala_desa", N_("Village head"), aliases=("kades",)),
                    MenuItem("perangkat_desa", N_("Village staff")),
                    MenuItem("bpd", N_("BPD member (village council)"), aliases=("bpd",)),
                )),
    AgencyGroup("bumn_bumd", N_("BUMN/BUMD (state-owned company)"), (), aliases=("bumn", "bumd"), asn=False,
                name_question=N_("Type the name of the company (for example \"{example}\")."),
                example="PLN UP3 Bali Selatan", position_example="Manajer"),
    AgencyGroup("tni_polri", N_("TNI/Polri"), (), aliases=("tni", "polri", "polisi", "tentara"), asn=False,
                name_question=N_("Type the name of the unit (for example \"{example}\")."),
                example="Polsek Kuta Utara", position_example="Kapolsek"),
    AgencyGroup("lainnya", N_("Don't know / other"), (), aliases=("lainnya", "lain", "other", *DONT_KNOW)),
)

PERSON_STATUSES: tuple[MenuItem, ...] = (
    MenuItem("pns", N_("PNS")),
    MenuItem("pppk", N_("PPPK"), aliases=("p3k",)),
    MenuItem("honorer", N_("Honorary staff (honorer)"), aliases=("honorer", "honor")),
    MenuItem("tidak_tahu", N_("Don't know"), aliases=DONT_KNOW, summary=N_("unknown")),
)
NOT_ASN = MenuItem("bukan_asn", N_("Not ASN"))
"""Recorded, never offered: the agency chosen is not one where people are ASN."""


def person_status(status_id: str | None) -> MenuItem | None:
    return find((*PERSON_STATUSES, NOT_ASN), status_id)

IDENTITY_MODES: tuple[MenuItem, ...] = (
    MenuItem("anonim", N_("Anonymous"),
             N_("the officers get nothing that could identify you")),
    MenuItem("rahasia", N_("Confidential"),
             N_("your name and contact are kept for our moderators only")),
    MenuItem("terbuka", N_("Open"),
             N_("your name and phone are shared with the officer handling the case")),
)

CASE_STATUSES: tuple[MenuItem, ...] = (
    MenuItem("baru", N_("New")),
    MenuItem("menunggu_rute", N_("Waiting for an officer")),
    MenuItem("diteruskan", N_("Forwarded")),
    MenuItem("diterima", N_("Accepted")),
    MenuItem("ditindaklanjuti", N_("Being followed up")),
    MenuItem("selesai", N_("Done")),
    MenuItem("bukan_kewenangan", N_("Not within their authority")),
    MenuItem("ditolak", N_("Rejected")),
)


def find(items: tuple[MenuItem, ...], item_id: str | None) -> MenuItem | None:
    return next((item for item in items if item.id == item_id), None)


def agency_group(group_id: str | None) -> AgencyGroup | None:
    return next((g for g in AGENCY_GROUPS if g.id == group_id), None)
