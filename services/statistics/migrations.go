package statistics

import "xinfang.io/services/kit/store"

// Migrations are the statistics schema. Nothing here is personal data:
// petitioners appear only as the keyed HMACs intake put in the events.
//
//   - stat_cases: one row per case, its state as JSON (see caseState) plus
//     the columns the 积案 and overdue queries index.
//   - stat_daily / stat_monthly: the counters, per (metric, dimension, key)
//     and day, and the same per month; a period query reads at most 12
//     month rows and 62 day rows per counter.
//   - stat_petitioner_matters: which matters a petitioner raised when, for
//     the repeat-petitioner warning.
//   - stat_alerts: raised early warnings, one per dedup key.
var Migrations = []store.Migration{{
	Version: 1,
	Name:    "statistics",
	SQL: `CREATE TABLE stat_cases (
	case_id            TEXT PRIMARY KEY,
	state              TEXT NOT NULL,
	pending_due        TEXT NOT NULL DEFAULT '',
	pending_department TEXT NOT NULL DEFAULT '',
	overdue_department TEXT NOT NULL DEFAULT ''
);
CREATE INDEX stat_cases_pending ON stat_cases (pending_due) WHERE pending_due <> '';
CREATE INDEX stat_cases_overdue ON stat_cases (overdue_department) WHERE overdue_department <> '';
CREATE TABLE stat_daily (
	metric  TEXT NOT NULL,
	dim     TEXT NOT NULL,
	dim_key TEXT NOT NULL,
	day     TEXT NOT NULL,
	value   BIGINT NOT NULL,
	PRIMARY KEY (metric, dim, dim_key, day)
);
CREATE INDEX stat_daily_dim_day ON stat_daily (dim, day);
CREATE TABLE stat_monthly (
	metric  TEXT NOT NULL,
	dim     TEXT NOT NULL,
	dim_key TEXT NOT NULL,
	month   TEXT NOT NULL,
	value   BIGINT NOT NULL,
	PRIMARY KEY (metric, dim, dim_key, month)
);
CREATE INDEX stat_monthly_dim_month ON stat_monthly (dim, month);
CREATE TABLE stat_petitioner_matters (
	petitioner_key TEXT NOT NULL,
	case_id        TEXT NOT NULL,
	matter_id      TEXT NOT NULL,
	day            TEXT NOT NULL,
	PRIMARY KEY (petitioner_key, case_id)
);
CREATE INDEX stat_petitioner_matters_day ON stat_petitioner_matters (petitioner_key, day);
CREATE INDEX stat_petitioner_matters_case ON stat_petitioner_matters (case_id);
CREATE TABLE stat_alerts (
	id          ` + store.Serial + `,
	dedup_key   TEXT NOT NULL UNIQUE,
	event_id    TEXT NOT NULL,
	case_id     TEXT NOT NULL,
	kind        TEXT NOT NULL,
	dimension   TEXT NOT NULL,
	dim_key     TEXT NOT NULL,
	day         TEXT NOT NULL,
	count       BIGINT NOT NULL,
	baseline    DOUBLE PRECISION NOT NULL,
	threshold   DOUBLE PRECISION NOT NULL,
	win         TEXT NOT NULL,
	message     TEXT NOT NULL,
	case_ids    TEXT NOT NULL,
	raised_at   TEXT NOT NULL
);
CREATE INDEX stat_alerts_raised ON stat_alerts (raised_at);`,
}}
