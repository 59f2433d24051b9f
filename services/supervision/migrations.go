package supervision

import "xinfang.io/services/kit/store"

// Migrations create the supervision tables. Apply with
// db.Migrate(ctx, "supervision", Migrations).
//
//   - supervision_cases: one row per case; the case document (data, JSON of
//     casemachine.Case) plus the columns the work lists filter on.
//   - supervision_case_access: which departments' staff may see a case
//     (lead, co-departments, reviewing bodies; never the accused of an
//     accusation), so a department's list is an index range, not a scan.
//   - supervision_history: the append-only case history (every event
//     consumed or produced, and notes such as hearings); never updated.
//   - supervision_timers: durable timers, the next one of each open case
//     and those that fired. Unfired timers are found through the partial
//     index on fire_at; a timer is marked fired in the transaction that
//     writes the events it causes. (case_id, timer_key) is unique so that
//     re-planning never re-creates a timer that fired.
var Migrations = []store.Migration{{
	Version: 1,
	Name:    "cases, access, history, timers",
	SQL: `CREATE TABLE supervision_cases (
	case_id    TEXT PRIMARY KEY,
	state      TEXT NOT NULL,
	category   TEXT NOT NULL,
	department TEXT NOT NULL,
	next_due   TEXT,
	imported   INTEGER NOT NULL,
	data       TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX supervision_cases_department ON supervision_cases (department, state, case_id);
CREATE INDEX supervision_cases_state ON supervision_cases (state, case_id);
CREATE INDEX supervision_cases_next_due ON supervision_cases (next_due) WHERE next_due IS NOT NULL;
CREATE TABLE supervision_case_access (
	department TEXT NOT NULL,
	case_id    TEXT NOT NULL,
	PRIMARY KEY (department, case_id)
);
CREATE INDEX supervision_case_access_case ON supervision_case_access (case_id);
CREATE TABLE supervision_history (
	case_id     TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	event_id    TEXT NOT NULL,
	type        TEXT NOT NULL,
	occurred_at TEXT NOT NULL,
	recorded_at TEXT NOT NULL,
	imported    INTEGER NOT NULL,
	published   INTEGER NOT NULL,
	actor       TEXT NOT NULL,
	reason      TEXT NOT NULL,
	payload     TEXT NOT NULL,
	PRIMARY KEY (case_id, seq)
);
CREATE TABLE supervision_timers (
	id            ` + store.Serial + `,
	case_id       TEXT NOT NULL,
	timer_key     TEXT NOT NULL,
	kind          TEXT NOT NULL,
	clock         TEXT NOT NULL,
	step          INTEGER NOT NULL,
	step_kind     TEXT NOT NULL,
	clock_due     TEXT NOT NULL,
	fire_at       TEXT NOT NULL,
	notify_leader INTEGER NOT NULL,
	fired_at      TEXT,
	failure       TEXT,
	UNIQUE (case_id, timer_key)
);
CREATE INDEX supervision_timers_due ON supervision_timers (fire_at, id) WHERE fired_at IS NULL;`,
}, {
	Version: 2,
	Name:    "parked imported history",
	SQL: `CREATE TABLE supervision_parked (
	case_id     TEXT NOT NULL,
	occurred_at TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	event       ` + store.Blob + ` NOT NULL,
	PRIMARY KEY (case_id, event_id)
);`,
}, {
	// trace_parent: the W3C traceparent of the span that created the case
	// (routing's decision as consumed here), which every timer firing of
	// the case links to. supervision_replan: the timing rules (deadlines,
	// calendar, escalation) the open cases' timers were planned under, and
	// how far a re-plan after a change of them has got (cursor: the last
	// case id done; NULL when complete), so a restart resumes it.
	Version: 3,
	Name:    "case trace, re-plan progress",
	SQL: `ALTER TABLE supervision_cases ADD COLUMN trace_parent TEXT;
CREATE TABLE supervision_replan (
	id          INTEGER PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	cursor      TEXT,
	updated_at  TEXT NOT NULL
);`,
}, {
	// A case stores only its next timer (writePlan); planned_from is the
	// day its plan was made from, so that the timer after it is planned
	// alike. Rows stored before (whole plans) have none and keep firing as
	// they are.
	Version: 4,
	Name:    "timers planned one at a time",
	SQL:     `ALTER TABLE supervision_timers ADD COLUMN planned_from TEXT;`,
}}
