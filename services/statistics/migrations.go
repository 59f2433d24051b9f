package statistics

import (
	"strings"

	"xinfang.io/services/kit/store"
)

// Migrations are the statistics schema. Nothing here is personal data:
// petitioners appear only as the keyed HMACs intake put in the events.
//
//   - stat_cases: one row per case, its state as JSON (see caseState, which
//     also holds the ids of the events applied to it) plus the column the
//     overdue-accumulation rule indexes.
//   - stat_counts: the counters, one column per metric (metrics.go), one row
//     per dimension key and period — day, dekad, month and year (periods.go);
//     a query reads at most 35 rows per dimension key.
//   - stat_petitioner_matters: which matters a petitioner raised when, for
//     the repeat-petitioner warning, keyed by petitioner and day.
//   - stat_alerts: raised early warnings, one per dedup key.
//   - stat_upgrade: work a migration leaves to Upgrade (Go code).
//
// Version 1 kept counters one row per metric, per day and per month
// (stat_daily, stat_monthly) and the 积案 index on stat_cases; version 2
// replaces them by stat_counts (督办 carried over, the other counters
// rebuilt from the case states by Upgrade).
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
}, {
	Version:  2,
	Name:     "counters per period, backlog levels",
	SQL:      migration2(store.SQLite),
	Postgres: migration2(store.Postgres),
}}

// migration2 is the text of version 2 for a dialect.
func migration2(d store.Dialect) string {
	cols := make([]string, numMetrics)
	for i := range cols {
		cols[i] = "\t" + metric(i).column() + " BIGINT NOT NULL DEFAULT 0,"
	}
	table := "CREATE TABLE stat_counts (\n\tdim TEXT NOT NULL,\n\tperiod TEXT NOT NULL,\n\tdim_key TEXT NOT NULL,\n" +
		strings.Join(cols, "\n") + "\n\tPRIMARY KEY (dim, period, dim_key)\n)"
	withoutRowid := ""
	if d == store.SQLite {
		// Clustered on the key: a query's rows for one period are adjacent,
		// and a write is one B-tree, not a table and its key index.
		withoutRowid = " WITHOUT ROWID"
	}
	table += withoutRowid
	dekad := "substr(day, 1, 7) || '~' || CASE WHEN substr(day, 9, 2) <= '10' THEN '1' WHEN substr(day, 9, 2) <= '20' THEN '2' ELSE '3' END"
	var b strings.Builder
	b.WriteString(table + ";\n")
	// 督办 counts notices, which no case state keeps: carried over.
	quarter := "substr(day, 1, 5) || 'Q' || ((CAST(substr(day, 6, 2) AS INTEGER) + 2) / 3)"
	for _, period := range []string{"day", dekad, "substr(day, 1, 7)", quarter, "substr(day, 1, 4)"} {
		b.WriteString("INSERT INTO stat_counts (dim, period, dim_key, m_duban)\n\tSELECT dim, " + period +
			", dim_key, SUM(value) FROM stat_daily WHERE metric = 'duban' GROUP BY 1, 2, 3 HAVING SUM(value) <> 0;\n")
	}
	b.WriteString(`CREATE TABLE stat_upgrade (name TEXT PRIMARY KEY);
INSERT INTO stat_upgrade (name) SELECT 'rebuild_counters' WHERE EXISTS (SELECT 1 FROM stat_cases);
-- Keyed for its one query (a petitioner's matters within a window);
-- a repeat's matter is now kept in the case state.
CREATE TABLE stat_petitioner_matters_v2 (
	petitioner_key TEXT NOT NULL,
	day            TEXT NOT NULL,
	case_id        TEXT NOT NULL,
	matter_id      TEXT NOT NULL,
	PRIMARY KEY (petitioner_key, day, case_id)
)` + withoutRowid + `;
INSERT INTO stat_petitioner_matters_v2 (petitioner_key, day, case_id, matter_id)
	SELECT petitioner_key, day, case_id, matter_id FROM stat_petitioner_matters;
DROP TABLE stat_petitioner_matters;
ALTER TABLE stat_petitioner_matters_v2 RENAME TO stat_petitioner_matters;
DROP TABLE stat_daily;
DROP TABLE stat_monthly;
DROP INDEX stat_cases_pending;
ALTER TABLE stat_cases DROP COLUMN pending_due;
ALTER TABLE stat_cases DROP COLUMN pending_department`)
	return b.String()
}
