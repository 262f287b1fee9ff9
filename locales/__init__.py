"""Babel gettext catalogs: `id` (default) and `en`. Loaded by `flows.i18n`."""
