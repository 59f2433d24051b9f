// Package routing is the routing service (issue 4): it decides where each
// registered petition goes within the bureau's 15 days (Art. 22) and emits
// exactly one routing decision per case on the county's routing stream:
//
//   - case.assigned — 转送 (routine) or 交办 (group petitions, manual 转办)
//     to a lead department with co-departments, and the acknowledgement
//     due date: the county calendar's AddDays(routing day, acknowledgeDays)
//     under the county's effective deadlines (Art. 23);
//   - case.diverted — 诉访分离 to a legal channel, with the body and the
//     guidance text for the petitioner's notice (Art. 31(1)–(4));
//   - case.forwarded — not this county's matter;
//   - case.not_accepted — the same matter after 复核 (Art. 36(3), finality
//     lock), the same matter while its case is still handled within its
//     time limits (Art. 19(3), linked to that case), or no matter at all.
//
// # Decisions
//
// Decide is pure: a compiled Ruleset, the petition (Input) and the routing
// state (Options) in, one Decision out. Statutory checks come first, then
// the county's ordered rules (first match wins; a rule matches on category,
// keywords any/all/none as substrings of title, request, facts and reasons,
// township, respondent, channel and the group flag), then the default
// department. Every decision records the rule id (DefaultRuleID,
// ManualRuleID) and the rules version (county.Config.Version).
//
// Classification: the registered category hint when given; otherwise an
// explicit accusation word (检举, 举报, 控告, 揭发) makes it an accusation, so
// the guard below errs on the side of the petitioner; otherwise the first
// county rule with positive keywords and exactly one category whose keywords
// hold gives its category; otherwise words of proposal without a demand make
// a suggestion; otherwise it is a complaint (申诉求决类), the category that
// keeps every statutory clock and review right. A re-routing keeps the
// category of the first routing.
//
// # Guards
//
// An accusation (检举控告) never goes to the department it accuses, as lead or
// as co-department (Art. 30(3), 46(5)): a rule or default that would send it
// there is overridden to the accused department's supervising body, walking
// up past excluded bodies and stopping at a cycle; the override is recorded
// as a GuardOverride on the event, and the accused is listed in the event's
// excluded departments. A department that objected in time (case.objected,
// Art. 23(3)) or that bureau staff excluded (recusal, Art. 28(3)) is never
// chosen again for the case: a rule that names it is passed over. When every
// candidate is excluded, the event is refused (dead letter) and the case
// waits for a manual 转办.
//
// # Rules
//
// Rules reads county.Config per decision from the hot-reloaded county file
// and compiles each version once. Beyond the county loader's validation it
// rejects supervising bodies that form a cycle; a rejected version leaves
// the previous one in force.
//
// # State and transports
//
// routing_cases keeps, per case, the petition as registered, the decision
// in force, the excluded departments and whether the case is open, closed
// or final (from case.closed and case.final). Events are applied through the
// kit's inbox and decisions enqueued in the same transaction. HTTP:
// POST /v1/routing/preview, GET /v1/routing/rules and
// POST /v1/cases/{caseId}/reroute, all behind staff tokens.
package routing
