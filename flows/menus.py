"""The fixed menus of the report: incident types, agencies, employment status, identity.

Ids are stable (they are stored and used as button data); labels are catalog message ids
translated where they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.i18n import N_


@dataclass(frozen=True, slots=True)
class MenuItem:
    id: str
    label: str
    explanation: str | None = None


INCIDENT_TYPES: tuple[MenuItem, ...] = (
    MenuItem("alat_peraga", N_("Put up campaign props"),
             N_("put up a candidate's or party's banner, billboard or sticker")),
    MenuItem("media_sosial", N_("Campaigning on social media"),
             N_("posts, comments, shares, likes, joining a candidate's group or account")),
    MenuItem("foto_dukungan", N_("Photo/pose of support"),
             N_("photo with a candidate or campaign team showing a sign of support")),
    MenuItem("ikut_kampanye", N_("Joined a campaign/declaration"),
             N_("attended a campaign or declaration and took part")),
    MenuItem("atribut", N_("Campaigned wearing attributes"),
             N_("wore an ASN uniform or party attributes while campaigning")),
    MenuItem("mobilisasi", N_("Mobilised staff"),
             N_("made subordinates or other ASN support a candidate")),
    MenuItem("fasilitas_negara", N_("Used state facilities"),
             N_("official cars, offices, budget or official events used for a candidate")),
    MenuItem("kebijakan_memihak", N_("Partisan policy/service"),
             N_("programs, aid, permits, transfers or services that favour or hurt a candidate")),
    MenuItem("ajakan_barang", N_("Invitations & handing out goods"),
             N_("meetings, calls, or handing out goods to staff, families or residents")),
    MenuItem("surat_dukungan", N_("Letters of support/ID cards"),
             N_("gave or collected letters of support or ID-card copies for a candidate")),
    MenuItem("anggota_parpol", N_("Party member/officer"),
             N_("member or officer of a political party")),
    MenuItem("tim_sukses", N_("Campaign team/consultant"),
             N_("on a candidate's campaign team or a consultant to one")),
    MenuItem("bakal_calon", N_("Would-be candidate still in office"),
             N_("active ASN courting parties or gathering ID cards as a would-be candidate")),
    MenuItem("desa_berpihak", N_("Village head/staff took sides"),
             N_("village head or staff took sides (not ASN: village law track)")),
    MenuItem("lainnya", N_("Other"), N_("anything else, described freely")),
)


@dataclass(frozen=True, slots=True)
class AgencyGroup:
    id: str
    label: str
    units: tuple[MenuItem, ...]


AGENCY_GROUPS: tuple[AgencyGroup, ...] = (
    AgencyGroup("pemda", N_("Regional government"), (
        MenuItem("setda", N_("Regional/DPRD secretariat")),
        MenuItem("dinas", N_("Dinas (service office)")),
        MenuItem("badan", N_("Badan (agency)")),
        MenuItem("inspektorat", N_("Inspectorate/Satpol PP")),
        MenuItem("kecamatan", N_("Kecamatan (district)")),
        MenuItem("kelurahan", N_("Kelurahan (urban village)")),
        MenuItem("kesehatan", N_("Regional hospital/Puskesmas")),
        MenuItem("sekolah", N_("State school"),
                 N_("TK/SD/SMP belong to the kabupaten/kota, SMA/SMK/SLB to the province")),
    )),
    AgencyGroup("pusat", N_("Central/vertical agency"), (
        MenuItem("kemenag", N_("Kemenag (KUA, madrasah)")),
        MenuItem("atr_bpn", N_("ATR/BPN (land office)")),
        MenuItem("pajak_bea", N_("Tax/Customs")),
        MenuItem("bps", N_("BPS (statistics)")),
        MenuItem("imigrasi_lapas", N_("Immigration/prison")),
        MenuItem("kementerian_lain", N_("Another ministry or its unit")),
        MenuItem("ptn_rs", N_("State university or hospital")),
    )),
    AgencyGroup("desa", N_("Village"), (
        MenuItem("kepala_desa", N_("Village head")),
        MenuItem("perangkat_desa", N_("Village staff")),
        MenuItem("bpd", N_("BPD (village council)")),
    )),
    AgencyGroup("bumn_bumd", N_("BUMN/BUMD (state-owned company)"), ()),
    AgencyGroup("tni_polri", N_("TNI/Polri"), ()),
    AgencyGroup("lainnya", N_("Don't know / other"), ()),
)

PERSON_STATUSES: tuple[MenuItem, ...] = (
    MenuItem("pns", N_("PNS")),
    MenuItem("pppk", N_("PPPK")),
    MenuItem("honorer", N_("Honorary staff (honorer)")),
    MenuItem("tidak_tahu", N_("Don't know")),
)

IDENTITY_MODES: tuple[MenuItem, ...] = (
    MenuItem("anonim", N_("Anonymous"),
             N_("nothing that identifies you ever leaves the system")),
    MenuItem("rahasia", N_("Confidential"),
             N_("your name and contact are kept for our moderators only")),
    MenuItem("terbuka", N_("Open"),
             N_("your name and phone are shared with the officer handling the case")),
)

CASE_STATUSES: tuple[MenuItem, ...] = (
    MenuItem("baru", N_("New")),
    MenuItem("menunggu_rute", N_("Waiting for a route")),
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
