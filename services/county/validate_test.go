package county

import (
	"strings"
	"testing"
)

func TestMinimalSpecIsValid(t *testing.T) {
	s := minimalSpec(t)
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateRules(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		name   string
		mutate func(s *Spec)
		path   string
		msg    string
	}{
		{"division code format", func(s *Spec) { s.DivisionCode = "033052" }, "divisionCode", "must match"},
		{"division code length", func(s *Spec) { s.DivisionCode = "3305231" }, "divisionCode", "at most 6 characters"},
		{"division code missing", func(s *Spec) { s.DivisionCode = "" }, "divisionCode", "required"},
		{"display name missing", func(s *Spec) { s.DisplayName = "" }, "displayName", "required"},
		{"display name counted in characters", func(s *Spec) { s.DisplayName = strings.Repeat("县", 65) }, "displayName", "at most 64 characters, has 65"},

		{"duplicate township", func(s *Spec) { s.Townships[1].ID = "town-a" }, "townships[1].id", `duplicate id "town-a" (first at townships[0])`},
		{"township id pattern", func(s *Spec) { s.Townships[0].ID = "Town_A" }, "townships[0].id", "must match"},
		{"too many townships", func(s *Spec) {
			for len(s.Townships) < 65 {
				s.Townships = append(s.Townships, Township{ID: "t" + strings.Repeat("x", len(s.Townships)), Name: "镇"})
			}
		}, "townships", "at most 64 items, has 65"},

		{"duplicate department", func(s *Spec) { s.Departments[2].ID = "xfj" }, "departments[2].id", `duplicate id "xfj" (first at departments[0])`},
		{"no departments", func(s *Spec) { s.Departments = nil }, "departments", "at least 1 item"},
		{"department without categories", func(s *Spec) { s.Departments[2].Categories = nil }, "departments[2].categories", "at least 1 item"},
		{"department category enum", func(s *Spec) { s.Departments[2].Categories[1] = "petition" }, "departments[2].categories[1]", `"petition" is not one of complaint, suggestion, accusation`},
		{"department category duplicate", func(s *Spec) { s.Departments[2].Categories[1] = CategoryComplaint }, "departments[2].categories[1]", "duplicate value complaint"},
		{"department kind enum", func(s *Spec) { s.Departments[2].Kind = "ministry" }, "departments[2].kind", "is not one of"},
		{"self supervision", func(s *Spec) { s.Departments[2].SupervisingBody = "zjj" }, "departments[2].supervisingBody", "cannot be its own supervisingBody"},
		{"supervision cycle", func(s *Spec) { s.Departments[1].SupervisingBody = "xfj" }, "departments[1].supervisingBody", `form a cycle through "jw" and "xfj"`},
		{"supervising body undefined", func(s *Spec) { s.Departments[2].SupervisingBody = "sjw" }, "departments[2].supervisingBody", `department "sjw" is not defined`},
		{"supervising body handles no accusations", func(s *Spec) { s.Departments[2].SupervisingBody = "gov-a" }, "departments[2].supervisingBody", `"gov-a" does not handle accusations`},
		{"township department without township", func(s *Spec) { s.Departments[3].Township = "" }, "departments[3].township", "required for a department of kind township"},
		{"department township undefined", func(s *Spec) { s.Departments[3].Township = "town-z" }, "departments[3].township", `township "town-z" is not defined`},
		{"leader title", func(s *Spec) { s.Departments[0].Leader = &Leader{Name: "张三"} }, "departments[0].leader.title", "required"},
		{"member empty", func(s *Spec) { s.Departments[2].Members = []string{"李四", ""} }, "departments[2].members[1]", "required"},
		{"member duplicate", func(s *Spec) { s.Departments[2].Members = []string{"李四", "李四"} }, "departments[2].members[1]", "duplicate value 李四"},
		{"member name too long", func(s *Spec) { s.Departments[2].Members = []string{strings.Repeat("李", 33)} }, "departments[2].members[0]", "at most 32 characters"},
		{"too many members", func(s *Spec) {
			for i := range 65 {
				s.Departments[2].Members = append(s.Departments[2].Members, "干部"+string(rune(0x4e00+i)))
			}
		}, "departments[2].members", "at most 64 items, has 65"},
		{"higher bureau too long", func(s *Spec) { s.HigherBureau = strings.Repeat("局", 129) }, "higherBureau", "at most 128 characters"},

		{"duplicate rule", func(s *Spec) { s.RoutingRules[2].ID = "housing" }, "routingRules[2].id", `duplicate id "housing" (first at routingRules[0])`},
		{"lead undefined", func(s *Spec) { s.RoutingRules[0].Assign.Lead = "zzj" }, "routingRules[0].assign.lead", `department "zzj" is not defined`},
		{"lead missing", func(s *Spec) { s.RoutingRules[0].Assign.Lead = "" }, "routingRules[0].assign.lead", "required"},
		{"lead handles category", func(s *Spec) { s.RoutingRules[0].Match.Categories = []Category{CategoryAccusation} }, "routingRules[0].assign.lead", `"zjj" does not handle category "accusation"`},
		{"co undefined", func(s *Spec) { s.RoutingRules[0].Assign.Co = []string{"gov-a", "rsj"} }, "routingRules[0].assign.co[1]", `department "rsj" is not defined`},
		{"co is lead", func(s *Spec) { s.RoutingRules[0].Assign.Co = []string{"zjj"} }, "routingRules[0].assign.co[0]", "already the lead"},
		{"co duplicate", func(s *Spec) { s.RoutingRules[0].Assign.Co = []string{"gov-a", "gov-a"} }, "routingRules[0].assign.co[1]", "duplicate value gov-a"},
		{"match township undefined", func(s *Spec) { s.RoutingRules[0].Match.Townships = []string{"town-a", "town-q"} }, "routingRules[0].match.townships[1]", `township "town-q" is not defined`},
		{"match respondent undefined", func(s *Spec) { s.RoutingRules[0].Match.Respondents = []string{"gaj"} }, "routingRules[0].match.respondents[0]", `department "gaj" is not defined`},
		{"match channel enum", func(s *Spec) { s.RoutingRules[0].Match.Channels = []Channel{"email"} }, "routingRules[0].match.channels[0]", "is not one of web, letter, visit, phone, fax"},
		{"keyword empty", func(s *Spec) { s.RoutingRules[0].Match.Keywords.Any = []string{""} }, "routingRules[0].match.keywords.any[0]", "required"},
		{"keyword too long", func(s *Spec) { s.RoutingRules[0].Match.Keywords.None = []string{strings.Repeat("字", 33)} }, "routingRules[0].match.keywords.none[0]", "at most 32 characters"},
		{"no action", func(s *Spec) { s.RoutingRules[0].Assign = nil }, "routingRules[0]", "exactly one of assign, divert or forward must be set, found 0"},
		{"two actions", func(s *Spec) { s.RoutingRules[1].Forward = &Forward{To: "x"} }, "routingRules[1]", "found 2"},
		{"divert channel enum", func(s *Spec) { s.RoutingRules[1].Divert.LegalChannel = "court" }, "routingRules[1].divert.legalChannel", `"court" is not one of litigation`},
		{"divert department undefined", func(s *Spec) { s.RoutingRules[1].Divert.Department = "fy" }, "routingRules[1].divert.department", `department "fy" is not defined`},
		{"divert body missing", func(s *Spec) { s.RoutingRules[1].Divert.Body = "" }, "routingRules[1].divert.body", "required"},
		{"forward to missing", func(s *Spec) { s.RoutingRules[2].Forward.To = "" }, "routingRules[2].forward.to", "required"},
		{"catch-all not last", func(s *Spec) { s.RoutingRules[1].Match = Match{} }, "routingRules[1].match", "matches every petition, so the 1 rule(s) after it never apply"},
		{"accusation to the accused", func(s *Spec) {
			s.RoutingRules[2] = RoutingRule{ID: "zjj-staff", Match: Match{Respondents: []string{"zjj"}}, Assign: &Assign{Lead: "zjj"}}
		}, "routingRules[2].assign", `would send accusations against "zjj" to "zjj" itself`},

		{"default department undefined", func(s *Spec) { s.DefaultDepartment = "bureau" }, "defaultDepartment", `department "bureau" is not defined`},
		{"default department missing", func(s *Spec) { s.DefaultDepartment = "" }, "defaultDepartment", "required"},

		{"deadline looser than statute", func(s *Spec) { s.Deadlines.RoutingDays = i32(16) }, "deadlines.routingDays", "must be at most 15, is 16: a county may shorten"},
		{"handling looser than statute", func(s *Spec) { s.Deadlines.HandlingDays = i32(61) }, "deadlines.handlingDays", "must be at most 60"},
		{"objection looser than statute", func(s *Spec) { s.Deadlines.ObjectionWorkingDays = i32(6) }, "deadlines.objectionWorkingDays", "must be at most 5"},
		{"accusation clock looser", func(s *Spec) { s.Deadlines.AccusationHandlingDays = i32(90) }, "deadlines.accusationHandlingDays", "must be at most 60"},
		{"deadline zero", func(s *Spec) { s.Deadlines.AcknowledgeDays = i32(0) }, "deadlines.acknowledgeDays", "must be at least 1, is 0"},
		{"evaluation capped", func(s *Spec) { s.Deadlines.EvaluationDays = i32(31) }, "deadlines.evaluationDays", "must be at most 30, is 31"},

		{"holiday malformed", func(s *Spec) { s.Calendar.Holidays = append(s.Calendar.Holidays, "2026-5-1") }, "calendar.holidays[1]", "must match"},
		{"holiday impossible", func(s *Spec) { s.Calendar.Holidays = append(s.Calendar.Holidays, "2026-02-30") }, "calendar.holidays[1]", "is not a date"},
		{"holiday duplicate", func(s *Spec) { s.Calendar.Holidays = append(s.Calendar.Holidays, "2026-02-16") }, "calendar.holidays[1]", "duplicate value"},
		{"holiday and workday", func(s *Spec) { s.Calendar.Holidays = append(s.Calendar.Holidays, "2026-02-14") }, "calendar.workdays[0]", "2026-02-14 is also listed as a holiday"},
		{"workday on a weekday", func(s *Spec) { s.Calendar.Workdays = append(s.Calendar.Workdays, "2026-02-13") }, "calendar.workdays[1]", "2026-02-13 is a Friday, already a working day"},

		{"step enum", func(s *Spec) { s.Escalation.Ladder[1].Step = "warning" }, "escalation.ladder[1].step", "is not one of reminder"},
		{"step without afterDays", func(s *Spec) { s.Escalation.Ladder[2].AfterDays = nil }, "escalation.ladder[2].afterDays", `required for step "interview"`},
		{"step timed like a reminder", func(s *Spec) { s.Escalation.Ladder[2].BeforeDays = i32(3) }, "escalation.ladder[2]", "only a reminder can be timed"},
		{"reminder with two timings", func(s *Spec) { s.Escalation.Ladder[0].BeforeDays = i32(3) }, "escalation.ladder[0]", "at most one of afterDays, beforeDays and percentElapsed"},
		{"ladder goes back in time", func(s *Spec) { s.Escalation.Ladder[1].AfterDays = i32(3); s.Escalation.Ladder[2].AfterDays = i32(1) }, "escalation.ladder[2].afterDays", "comes before escalation.ladder[1].afterDays (3)"},
		{"reminder percent range", func(s *Spec) { s.Escalation.Reminders.PercentElapsed = []int32{50, 100} }, "escalation.reminders.percentElapsed[1]", "must be at most 99"},
		{"answer window zero", func(s *Spec) { s.Escalation.AnswerWorkingDays = i32(0) }, "escalation.answerWorkingDays", "must be at least 1"},
		{"answer window too long", func(s *Spec) { s.Escalation.AnswerWorkingDays = i32(31) }, "escalation.answerWorkingDays", "must be at most 30"},
		{"reminder duplicate", func(s *Spec) { s.Escalation.Reminders.DaysBefore = []int32{3, 3} }, "escalation.reminders.daysBefore[1]", "duplicate value 3"},

		{"group persons range", func(s *Spec) { s.Warnings.GroupPersons = i32(1) }, "warnings.groupPersons", "must be at least 2"},
		{"spike factor is a percent above 100", func(s *Spec) { s.Warnings.SpikeFactorPercent = i32(2) }, "warnings.spikeFactorPercent", "must be at least 101"},
		{"overdue threshold department", func(s *Spec) { s.Warnings.OverdueThresholds[0].Department = "rsj" }, "warnings.overdueThresholds[0].department", `department "rsj" is not defined`},
		{"overdue threshold duplicate", func(s *Spec) {
			s.Warnings.OverdueThresholds = append(s.Warnings.OverdueThresholds, DepartmentThreshold{Department: "zjj", Threshold: 3})
		}, "warnings.overdueThresholds[1].department", `duplicate department "zjj"`},
		{"similarity percent", func(s *Spec) { s.RepeatDetection.SimilarityPercent = i32(101) }, "repeatDetection.similarityPercent", "must be at most 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := minimalSpec(t)
			tc.mutate(&s)
			err := s.Validate()
			if err == nil {
				t.Fatalf("Validate succeeded, want %s: %s", tc.path, tc.msg)
			}
			if errs := fieldErrors(t, err); !hasFieldError(errs, tc.path, tc.msg) {
				t.Fatalf("want %s: ...%s...; got %v", tc.path, tc.msg, err)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	s := minimalSpec(t)
	s.DivisionCode = "1"
	s.RoutingRules[0].Assign.Lead = "zzj"
	s.Departments[2].SupervisingBody = "zjj"
	errs := fieldErrors(t, s.Validate())
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3: %v", len(errs), errs)
	}
	err := (&ValidationError{Errors: errs}).Error()
	for _, want := range []string{
		"invalid county configuration (3 problems): ",
		`divisionCode: "1" must match`,
		`routingRules[0].assign.lead: department "zzj" is not defined`,
		"departments[2].supervisingBody: a department cannot be its own supervisingBody",
	} {
		if !strings.Contains(err, want) {
			t.Errorf("Error() = %q, missing %q", err, want)
		}
	}
}

func TestStricterDeadlinesAreAccepted(t *testing.T) {
	s := minimalSpec(t)
	ten, one, thirty := int32(10), int32(1), int32(30)
	s.Deadlines = &Deadlines{RoutingDays: &ten, ObjectionWorkingDays: &one, EvaluationDays: &thirty, HandlingDays: &thirty}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
