package intake

import "xinfang.io/services/kit/store"

// Migrations are intake's schema. Personal data lives only in pii (sealed);
// everything else is free of it.
var Migrations = []store.Migration{{
	Version: 1,
	Name:    "petitions",
	SQL: `CREATE TABLE petitions (
	case_id        TEXT PRIMARY KEY,
	query_hash     TEXT NOT NULL UNIQUE,
	source_id      TEXT UNIQUE,
	channel        TEXT NOT NULL,
	township       TEXT NOT NULL,
	title          TEXT NOT NULL,
	request        TEXT NOT NULL,
	facts          TEXT NOT NULL,
	reasons        TEXT NOT NULL,
	category_hint  TEXT NOT NULL,
	respondent     TEXT NOT NULL,
	person_count   INTEGER NOT NULL,
	group_petition INTEGER NOT NULL,
	received_at    TEXT NOT NULL,
	registered_at  TEXT NOT NULL,
	registered_by  TEXT NOT NULL,
	repeat_of      TEXT NOT NULL,
	imported       INTEGER NOT NULL,
	status         TEXT NOT NULL,
	status_at      TEXT NOT NULL,
	departments    TEXT NOT NULL,
	pii_kid        TEXT NOT NULL,
	pii            ` + store.Blob + ` NOT NULL
);
CREATE TABLE petitioner_cases (
	petitioner_key TEXT NOT NULL,
	case_id        TEXT NOT NULL,
	PRIMARY KEY (petitioner_key, case_id)
);
CREATE TABLE timeline (
	case_id TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	at      TEXT NOT NULL,
	kind    TEXT NOT NULL,
	label   TEXT NOT NULL,
	PRIMARY KEY (case_id, seq)
);`,
}}
