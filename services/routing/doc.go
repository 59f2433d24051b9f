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
//   - case.forwarded — not this county's matter: by a county rule, or
//     because the petition's township is not one of the county's (it arose
//     in another county), then to the county file's higherBureau;
//   - case.not_accepted — the same matter after 复核 (Art. 36(3), finality
//     lock), the same matter while its case is still handled within its
//     time limits (Art. 19(3), linked to that case), or no matter at all.
//
// When no department may receive a case (every candidate excluded by
// objections, recusals and the accusation guard) no decision is made: the
// case is recorded as awaiting manual routing, bureau staff are told by an
// alert.raised (ALERT_KIND_ROUTING_NEEDS_STAFF) on the alerts stream, the
// case is listed by GET /v1/routing/cases, and a manual 转办 (POST
// /v1/cases/{caseId}/reroute) makes its decision.
//
// # Decisions
//
// Decide is pure: a compiled Ruleset, the petition (Input) and the routing
// state (Options) in, one Decision out. Statutory checks come first, then
// jurisdiction (a township that is not the county's, unless the petition
// names one of the county's departments or officials), then the county's
// ordered rules (first match wins; a rule matches on category, keywords
// any/all/none as substrings of title, request, facts and reasons,
// township, respondent, channel and the group flag), then the default
// department. Every decision records the rule id (DefaultRuleID,
// ManualRuleID, OutOfCountyRuleID) and the rules version
// (county.Config.Version).
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
// # Respondents: departments and officials
//
// The registered event's respondent (被反映人/单位) is read as a department
// (id, full name, or the name without the county's prefix), an official by
// name, a department with one of its officials ("安吉县住房和城乡建设局李四",
// "zjj 李四"), or a department's leader by post ("…局局长"). Officials are
// the departments' leaders named in the county file (leader.name) and their
// members (departments[].members). A respondent naming one department, or
// officials of one department, is that department for the rules'
// respondents condition.
//
// # Guards
//
// An accusation (检举控告) never goes to the department it accuses — the one
// named, or the one whose leader or member is named; namesakes in several
// departments keep the accusation from all of them — as lead or as
// co-department (Art. 30(3), 46(5)): a rule or default that would send it
// there is overridden to the accused department's supervising body, walking
// up past excluded bodies and stopping at a cycle; the override is recorded
// as a GuardOverride on the event, and the accused is listed in the event's
// excluded departments (supervision hides the case from them). Any other
// matter about a department's leader is kept from that department: the
// leader has a direct interest in it (recusal, Art. 28(3)); a member named
// in a complaint does not exclude the department, which has the authority
// while the member stands aside within it. A department that objected in
// time (case.objected, Art. 23(3)), that bureau staff excluded, or whose
// leader or member bureau staff recused by name (Art. 28(3)) is never chosen
// again for the case: a rule that names it is passed over. Every decision
// lists its exclusions with the guard and why (the official, the objection).
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
// in force (or awaiting-manual), the excluded departments and whether the
// case is open, closed or final (from case.closed and case.final). Events
// are applied through the kit's inbox and decisions enqueued in the same
// transaction. The consumers of the petitions and cases streams hand runs
// of fetched events (up to MaxBatch) to HandleEvents, which applies them in
// one transaction; when a run fails, its events go one at a time through
// HandleEvent, where a refusal is dead-lettered alone. HTTP (docs/api/
// routing.md): POST /v1/routing/preview (intake's petition body or
// routing's flat shape), GET /v1/routing/rules, POST
// /v1/cases/{caseId}/reroute, GET /v1/routing/cases and GET
// /v1/routing/cases/{caseId}, all behind staff tokens.
package routing
