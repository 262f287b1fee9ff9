#!/usr/bin/env sh
# Re-extract the message ids from the code and merge them into both catalogs.
# Then translate the new (empty) entries in locales/id/LC_MESSAGES/messages.po.
set -e
cd "$(dirname "$0")/.."
pybabel extract -F locales/babel.cfg --no-location --sort-output --omit-header -o locales/messages.pot bot flows storage
pybabel update --no-fuzzy-matching --ignore-obsolete --width 100 -i locales/messages.pot -d locales -l id
pybabel update --no-fuzzy-matching --ignore-obsolete --width 100 -i locales/messages.pot -d locales -l en
