package routing

import (
	"fmt"
	"slices"

	"xinfang.io/county"
)

// ManualAssign is a manual 转办 by bureau staff to lead (and co): it refuses
// a department the case must never reach — the accused (Art. 30(3)), a
// recused one (Art. 28(3), including the departments of officials recused
// by name in o.Recused) and any other excluded department — as a
// validation error naming the field.
func ManualAssign(rs *Ruleset, in Input, category county.Category, lead string, co []string, o Options) (Decision, map[string]string) {
	bad := map[string]string{}
	excluded := rs.exclusions(rs.resolveRespondent(in.Respondent), category, o.Excluded, o.Recused)
	check := func(path, id string) {
		if _, ok := rs.depts[id]; !ok {
			bad[path] = fmt.Sprintf("department %q is not defined in county %s", id, rs.ID())
			return
		}
		if e, ex := excluded[id]; ex {
			switch e.guard {
			case GuardAccusation:
				bad[path] = fmt.Sprintf("%s is the department this accusation accuses (%s); it may never receive it (Art. 30(3), 46(5))", id, e.why)
			default:
				bad[path] = fmt.Sprintf("%s is excluded from this case (%s)", id, e.why)
			}
		}
	}
	check("lead", lead)
	var cleanCo []string
	for i, c := range co {
		check(fmt.Sprintf("co[%d]", i), c)
		if c == lead {
			bad[fmt.Sprintf("co[%d]", i)] = fmt.Sprintf("%s is already the lead department", c)
		}
		if !slices.Contains(cleanCo, c) {
			cleanCo = append(cleanCo, c)
		}
	}
	if len(bad) > 0 {
		return Decision{}, bad
	}
	return Decision{
		Kind:           KindAssigned,
		Category:       category,
		RuleID:         ManualRuleID,
		RulesVersion:   rs.Version(),
		Mode:           ModeAssign,
		Lead:           lead,
		Co:             cleanCo,
		AcknowledgeDue: rs.Config.Calendar.AddDays(o.RoutingDate, rs.Config.Deadlines.AcknowledgeDays).String(),
		Excluded:       sortedKeys(excluded),
		Exclusions:     exclusionList(excluded),
		Attempt:        max(o.Attempt, 1),
		Manual:         true,
	}, nil
}
