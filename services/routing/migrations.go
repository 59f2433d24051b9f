package routing

import "xinfang.io/services/kit/store"

// Migrations create routing's tables. Apply with db.Migrate(ctx, "routing", …).
//
// routing_cases holds, per case, what re-routing needs: the petition as
// registered ("pb:" + base64 of the PetitionRegistered protobuf; rows from
// before that hold its protojson, still read), the decision in force, the
// departments excluded from the case (id → guard) and whether the case is
// open, closed or final (from case.closed / case.final). Rows for cases
// routing never routed (a case.final before any petition) have an empty
// petition and decision. routing_decisions is the audit of every decision
// emitted, automatic or manual.
var Migrations = []store.Migration{{
	Version: 1,
	Name:    "routing cases and decisions",
	SQL: `CREATE TABLE routing_cases (
	case_id           TEXT PRIMARY KEY,
	petition          TEXT NOT NULL DEFAULT '',
	petition_event_id TEXT NOT NULL DEFAULT '',
	imported          INTEGER NOT NULL DEFAULT 0,
	status            TEXT NOT NULL DEFAULT 'open',
	decision          TEXT NOT NULL DEFAULT '',
	category          TEXT NOT NULL DEFAULT '',
	lead              TEXT NOT NULL DEFAULT '',
	co                TEXT NOT NULL DEFAULT '[]',
	excluded_departments TEXT NOT NULL DEFAULT '{}',
	attempt           INTEGER NOT NULL DEFAULT 0,
	rule_id           TEXT NOT NULL DEFAULT '',
	rules_version     TEXT NOT NULL DEFAULT '',
	linked_case       TEXT NOT NULL DEFAULT '',
	decision_event_id TEXT NOT NULL DEFAULT '',
	updated_at        TEXT NOT NULL
);
CREATE TABLE routing_decisions (
	event_id     TEXT PRIMARY KEY,
	case_id      TEXT NOT NULL,
	attempt      INTEGER NOT NULL,
	kind         TEXT NOT NULL,
	manual       INTEGER NOT NULL,
	actor        TEXT NOT NULL,
	reason       TEXT NOT NULL,
	causation_id TEXT NOT NULL,
	decision     TEXT NOT NULL,
	decided_at   TEXT NOT NULL
);
CREATE INDEX routing_decisions_case ON routing_decisions (case_id, attempt);`,
}, {
	Version: 2,
	Name:    "cases by state",
	// GET /v1/routing/cases lists one state (awaiting-manual by default)
	// page by page in case id order, and a gauge counts the cases awaiting
	// a manual 转办.
	SQL: `CREATE INDEX routing_cases_decision ON routing_cases (decision, case_id);`,
}}
