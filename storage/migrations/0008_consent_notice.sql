-- Consent is given once per reporter and recorded with the version of the privacy notice
-- it was given to; a reporter is asked again only when the notice changes. Earlier rows
-- have no version, so their reporters are asked once more.

ALTER TABLE consents ADD COLUMN notice_version TEXT;
CREATE INDEX consents_reporter ON consents (reporter_id, id);
