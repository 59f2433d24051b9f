package routing

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"xinfang.io/county"
)

// outcome is the part of a decision the table checks, every field exactly.
type outcome struct {
	Kind      Kind
	Category  county.Category
	Rule      string
	Lead      string
	Co        []string
	Mode      Mode
	Due       string
	Excluded  []string
	Overrides []string // guard:rule:excluded>replacement
	Attempt   uint32
	Legal     county.LegalChannel
	Body      string
	Dest      string
	Reason    NotAcceptedReason
	Article   string
	Linked    string
}

func outcomeOf(d Decision) outcome {
	o := outcome{
		Kind: d.Kind, Category: d.Category, Rule: d.RuleID, Lead: d.Lead, Co: d.Co, Mode: d.Mode, Due: d.AcknowledgeDue,
		Excluded: d.Excluded, Attempt: d.Attempt, Legal: d.LegalChannel, Body: d.Body, Dest: d.Destination,
		Reason: d.NotAccepted, Article: d.Article, Linked: d.LinkedCase,
	}
	for _, ov := range d.Overrides {
		o.Overrides = append(o.Overrides, fmt.Sprintf("%s:%s:%s>%s", ov.Guard, ov.RuleID, ov.Excluded, ov.Replacement))
	}
	return o
}

// assigned fills the defaults of an assignment on the test day: 转送,
// attempt 1, acknowledgement due 10 days later (Anji's stricter clock).
func assigned(cat county.Category, rule, lead string, co ...string) outcome {
	return outcome{Kind: KindAssigned, Category: cat, Rule: rule, Lead: lead, Co: co, Mode: ModeTransfer, Due: "2026-03-12", Attempt: 1}
}

func (o outcome) mode(m Mode) outcome            { o.Mode = m; return o }
func (o outcome) due(d string) outcome           { o.Due = d; return o }
func (o outcome) attempt(n uint32) outcome       { o.Attempt = n; return o }
func (o outcome) excluded(ids ...string) outcome { o.Excluded = ids; return o }
func (o outcome) overrides(s ...string) outcome  { o.Overrides = s; return o }

func diverted(rule string, ch county.LegalChannel, body string) outcome {
	return outcome{Kind: KindDiverted, Category: county.CategoryComplaint, Rule: rule, Legal: ch, Body: body}
}

func notAccepted(cat county.Category, r NotAcceptedReason, article, linked string) outcome {
	return outcome{Kind: KindNotAccepted, Category: cat, Reason: r, Article: article, Linked: linked}
}

const (
	complaint  = county.CategoryComplaint
	suggestion = county.CategorySuggestion
	accusation = county.CategoryAccusation
)

// variants of the Anji sample for guard cases its own rules never reach.
func anjiVariants(t *testing.T) map[string]*Ruleset {
	y := anjiYAML(t)
	start := strings.Index(y, "    - id: accusation-against-jwjw")
	end := strings.Index(y, "    - id: accusation-officials")
	if start < 0 || end < start {
		t.Fatal("sample changed: accusation rules not found")
	}
	// Without its first rule, accusations against the discipline body hit
	// accusation-officials, a rule that points at the accused.
	noJwjwRule := y[:start] + y[end:]
	extra := edit(t, y, "    - id: accusation-officials", `    - id: accusation-property
      description: 物业费相关检举，纪委牵头，住建、市场监管协办
      match:
        categories: [accusation]
        keywords: {any: [物业费]}
      assign: {lead: jwjw, co: [zjj, scjgj]}
    - id: court-misconduct
      match:
        categories: [accusation]
        keywords: {any: [枉法]}
      divert: {legalChannel: litigation, body: 安吉县人民法院, department: fy}
    - id: accusation-officials`)
	return map[string]*Ruleset{"": anji(t), "no-jwjw-rule": parseRuleset(t, noJwjwRule), "extra": parseRuleset(t, extra),
		"people": parseRuleset(t, withPeople(t, y)), "people-no-jwjw-rule": parseRuleset(t, withPeople(t, noJwjwRule)),
		"higher": parseRuleset(t, edit(t, y, "  defaultDepartment: xfj", "  defaultDepartment: xfj\n  higherBureau: 湖州市信访局"))}
}

// withPeople names officials in the Anji sample: 住建局's leader 张建国 and
// members 李四 and 王五, 人社局's member 李四 (a namesake), 纪委监委's
// member 赵六.
func withPeople(t *testing.T, y string) string {
	t.Helper()
	y = edit(t, y, "      name: 安吉县住房和城乡建设局\n      kind: department\n      categories: [complaint, suggestion]\n      supervisingBody: jwjw\n      leader: {title: 局长}",
		"      name: 安吉县住房和城乡建设局\n      kind: department\n      categories: [complaint, suggestion]\n      supervisingBody: jwjw\n      leader: {name: 张建国, title: 局长}\n      members: [李四, 王五]")
	y = edit(t, y, "      name: 安吉县人力资源和社会保障局\n      kind: department\n      categories: [complaint, suggestion]\n      supervisingBody: jwjw\n      leader: {title: 局长}",
		"      name: 安吉县人力资源和社会保障局\n      kind: department\n      categories: [complaint, suggestion]\n      supervisingBody: jwjw\n      leader: {title: 局长}\n      members: [李四]")
	return edit(t, y, "      leader: {title: 书记、主任}", "      leader: {title: 书记、主任}\n      members: [赵六]")
}

type decideCase struct {
	name    string
	variant string
	in      Input
	opt     Options
	want    outcome
	wantErr error
	source  CategorySource // checked when set
}

func decideCases() []decideCase {
	objected := func(ids ...string) map[string]string {
		m := map[string]string{}
		for _, id := range ids {
			m[id] = GuardObjection
		}
		return m
	}
	reroute := func(attempt uint32, excl map[string]string) Options {
		return Options{Excluded: excl, Attempt: attempt, Rerouting: true}
	}
	return []decideCase{
		// Assignments by the county's rules.
		{name: "wages", in: Input{CategoryHint: complaint, Title: "讨薪", Request: "公司拖欠工资三个月，要求支付"},
			want: assigned(complaint, "wages-social-insurance", "rsj")},
		{name: "construction wages with co-department", in: Input{CategoryHint: complaint, Facts: "在工地干了半年，老板不发工资"},
			want: assigned(complaint, "wages-construction", "rsj", "zjj")},
		{name: "social insurance suggestion", in: Input{CategoryHint: suggestion, Request: "提高城乡居民养老保险待遇"},
			want: assigned(suggestion, "wages-social-insurance", "rsj")},
		{name: "meixi land with two co-departments", in: Input{CategoryHint: complaint, Township: "meixi", Request: "征地补偿款至今未到位"},
			want: assigned(complaint, "meixi-land", "gov-meixi", "zrzyj", "zjj")},
		{name: "land outside meixi", in: Input{CategoryHint: complaint, Township: "dipu", Request: "征地补偿款至今未到位"},
			want: assigned(complaint, "land", "zrzyj")},
		{name: "rural before land", in: Input{CategoryHint: complaint, Request: "土地流转租金两年未付"},
			want: assigned(complaint, "rural", "nyncj")},
		{name: "homestead", in: Input{CategoryHint: complaint, Reasons: "宅基地审批一直没有结果"},
			want: assigned(complaint, "land", "zrzyj")},
		{name: "housing", in: Input{CategoryHint: complaint, Title: "小区电梯长期故障"},
			want: assigned(complaint, "housing", "zjj")},
		{name: "environment", in: Input{CategoryHint: complaint, Facts: "工厂夜间噪音扰民"},
			want: assigned(complaint, "environment", "sthjj")},
		{name: "education", in: Input{CategoryHint: complaint, Request: "孩子入学难，希望协调学位"},
			want: assigned(complaint, "education", "jyj")},
		{name: "group visit is 交办 to the bureau", in: Input{CategoryHint: complaint, Channel: county.ChannelVisit, Group: true, Township: "dipu", Request: "要求解决拆迁安置问题"},
			want: assigned(complaint, "group-visit", "xfj").mode(ModeAssign)},
		{name: "group by person count", in: Input{CategoryHint: complaint, Channel: county.ChannelVisit, PersonCount: 6, Request: "小区物业乱收费"},
			want: assigned(complaint, "group-visit", "xfj").mode(ModeAssign)},
		{name: "group web petition is 交办 by its rule", in: Input{CategoryHint: complaint, Channel: county.ChannelWeb, Group: true, Request: "小区物业乱收费"},
			want: assigned(complaint, "housing", "zjj").mode(ModeAssign)},
		{name: "individual visit is not the group rule", in: Input{CategoryHint: complaint, Channel: county.ChannelVisit, PersonCount: 1, Request: "小区物业乱收费"},
			want: assigned(complaint, "housing", "zjj")},
		{name: "default department", in: Input{CategoryHint: complaint, Request: "咨询户口迁移办理流程"},
			want: assigned(complaint, DefaultRuleID, "xfj")},
		{name: "suggestion without rule goes to default", in: Input{CategoryHint: suggestion, Request: "建议法院判决文书及时公开"},
			want: assigned(suggestion, DefaultRuleID, "xfj")},

		// Classification without a hint.
		{name: "unhinted suggestion", in: Input{Request: "建议在递铺街道增设公交站点"},
			want: assigned(suggestion, DefaultRuleID, "xfj"), source: SourceSuggestionWords},
		{name: "unhinted accusation by its words", in: Input{Request: "举报县住建局某科长受贿", Respondent: "zjj"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("zjj"), source: SourceAccusationWords},
		{name: "unhinted accusation by a rule's keywords", in: Input{Facts: "县住建局某干部办事吃拿卡要", Respondent: "zjj"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("zjj"), source: SourceRule},
		{name: "unhinted complaint by default", in: Input{Request: "要求补发拖欠工资"},
			want: assigned(complaint, "wages-social-insurance", "rsj"), source: SourceDefault},
		{name: "unhinted litigation is a complaint", in: Input{Request: "对一审判决不服"},
			want: diverted("litigation", county.LegalLitigation, "安吉县人民法院"), source: SourceRule},

		// Accusation guard.
		{name: "accusation against the discipline body goes up", in: Input{CategoryHint: accusation, Respondent: "jwjw", Request: "反映县纪委某干部违纪"},
			want: assigned(accusation, "accusation-against-jwjw", "sjwjw").excluded("jwjw")},
		{name: "accusation against the discipline body by name", in: Input{CategoryHint: accusation, Respondent: "安吉县纪委县监委", Request: "反映干部作风问题"},
			want: assigned(accusation, "accusation-against-jwjw", "sjwjw").excluded("jwjw")},
		{name: "rule pointing at the accused is overridden", variant: "no-jwjw-rule",
			in:   Input{CategoryHint: accusation, Respondent: "jwjw", Request: "县纪委干部受贿"},
			want: assigned(accusation, "accusation-officials", "sjwjw").excluded("jwjw").overrides("accusation:accusation-officials:jwjw>sjwjw")},
		{name: "default department accused goes to its supervising body", in: Input{CategoryHint: accusation, Respondent: "xfj", Request: "信访局工作人员推诿"},
			want: assigned(accusation, DefaultRuleID, "jwjw").excluded("xfj").overrides("accusation:(default):xfj>jwjw")},
		{name: "group rule pointing at the accused bureau", in: Input{CategoryHint: accusation, Respondent: "xfj", Channel: county.ChannelVisit, Group: true, Request: "集体控告信访局接访人员"},
			want: assigned(accusation, "group-visit", "jwjw").mode(ModeAssign).excluded("xfj").overrides("accusation:group-visit:xfj>jwjw")},
		{name: "accusation against a department by its full name", in: Input{CategoryHint: accusation, Respondent: "安吉县住房和城乡建设局", Request: "反映某科室负责人贪污"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("zjj")},
		{name: "accusation without keywords goes to the bureau, not the accused", in: Input{CategoryHint: accusation, Respondent: "zjj", Request: "检举住建局违规发包"},
			want: assigned(accusation, DefaultRuleID, "xfj").excluded("zjj")},
		{name: "accused co-department removed", variant: "extra", in: Input{CategoryHint: accusation, Respondent: "zjj", Request: "住建局干部收取物业费回扣"},
			want: assigned(accusation, "accusation-property", "jwjw", "scjgj").excluded("zjj").overrides("accusation:accusation-property:zjj>")},
		{name: "diversion to the accused court passed over", variant: "extra", in: Input{CategoryHint: accusation, Respondent: "fy", Request: "法官枉法裁判"},
			want: assigned(accusation, DefaultRuleID, "xfj").excluded("fy").overrides("accusation:court-misconduct:fy>xfj")},
		{name: "accusation with litigation words is not diverted", in: Input{CategoryHint: accusation, Respondent: "fy", Request: "举报法官在诉讼中受贿"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("fy")},
		{name: "accusation of corruption before forwarding", in: Input{CategoryHint: accusation, Request: "举报市级部门干部贪污"},
			want: assigned(accusation, "accusation-officials", "jwjw")},

		// Diversion (诉访分离).
		{name: "litigation", in: Input{CategoryHint: complaint, Request: "对法院判决不服，要求重新处理"},
			want: diverted("litigation", county.LegalLitigation, "安吉县人民法院")},
		{name: "enforcement", in: Input{CategoryHint: complaint, Request: "申请强制执行一年没有进展"},
			want: diverted("litigation", county.LegalLitigation, "安吉县人民法院")},
		{name: "arbitration award is not litigation", in: Input{CategoryHint: complaint, Facts: "劳动仲裁裁定后公司仍不支付"},
			want: diverted("arbitration", county.LegalArbitration, "安吉县劳动人事争议仲裁委员会")},
		{name: "labour dispute", in: Input{CategoryHint: complaint, Request: "与公司发生劳动争议"},
			want: diverted("arbitration", county.LegalArbitration, "安吉县劳动人事争议仲裁委员会")},
		{name: "reconsideration", in: Input{CategoryHint: complaint, Request: "对行政处罚决定不服，想申请行政复议"},
			want: diverted("reconsideration", county.LegalAdministrativeReconsideration, "安吉县人民政府（行政复议机构）")},

		// Forwarding.
		{name: "another county's matter", in: Input{CategoryHint: complaint, Request: "长兴县某企业排污"},
			want: outcome{Kind: KindForwarded, Category: complaint, Rule: "forward-out-of-county", Dest: "湖州市信访局"}},
		{name: "city-owned enterprise", in: Input{CategoryHint: accusation, Request: "举报市属企业负责人违规招聘"},
			want: outcome{Kind: KindForwarded, Category: accusation, Rule: "forward-out-of-county", Dest: "湖州市信访局"}},

		// Not accepted, with the statutory reason.
		{name: "repeat of a final case", in: Input{CategoryHint: complaint, Request: "公司拖欠工资", RepeatOf: "C-1"},
			opt:  Options{Repeat: Repeat{CaseID: "C-1", State: RepeatFinal}},
			want: notAccepted(complaint, ReasonFinal, "36(3)", "C-1")},
		{name: "repeat of an open case", in: Input{CategoryHint: complaint, Request: "公司拖欠工资", RepeatOf: "C-2"},
			opt:  Options{Repeat: Repeat{CaseID: "C-2", State: RepeatOpen}},
			want: notAccepted(complaint, ReasonWithinTimeLimit, "19(3)", "C-2")},
		{name: "repeat of an accusation in time", in: Input{CategoryHint: accusation, Respondent: "zjj", Request: "举报受贿", RepeatOf: "C-3"},
			opt:  Options{Repeat: Repeat{CaseID: "C-3", State: RepeatOpen}},
			want: notAccepted(accusation, ReasonWithinTimeLimit, "19(3)", "C-3")},
		{name: "repeat of a closed case is routed again", in: Input{CategoryHint: complaint, Request: "公司拖欠工资", RepeatOf: "C-4"},
			opt:  Options{Repeat: Repeat{CaseID: "C-4", State: RepeatClosed}},
			want: assigned(complaint, "wages-social-insurance", "rsj")},
		{name: "repeat of an unknown case is routed", in: Input{CategoryHint: complaint, Request: "公司拖欠工资", RepeatOf: "C-5"},
			opt:  Options{Repeat: Repeat{CaseID: "C-5", State: RepeatUnknown}},
			want: assigned(complaint, "wages-social-insurance", "rsj")},
		{name: "nothing stated", in: Input{CategoryHint: complaint, Title: "  ", Request: ""},
			want: notAccepted(complaint, ReasonOutOfScope, "19", "")},

		// Objection (Art. 23(3)): routed again without the objecting department.
		{name: "lead objected: rule passed over, default takes it", in: Input{CategoryHint: complaint, Request: "公司拖欠工资"},
			opt:  reroute(2, objected("rsj")),
			want: assigned(complaint, DefaultRuleID, "xfj").attempt(2).excluded("rsj").overrides("objection:wages-social-insurance:rsj>xfj")},
		{name: "township objected: next rule takes it", in: Input{CategoryHint: complaint, Township: "meixi", Request: "征地补偿款至今未到位"},
			opt:  reroute(2, objected("gov-meixi")),
			want: assigned(complaint, "land", "zrzyj").attempt(2).excluded("gov-meixi").overrides("objection:meixi-land:gov-meixi>zrzyj")},
		{name: "co-department objected", in: Input{CategoryHint: complaint, Facts: "工地老板不发工资"},
			opt:  reroute(2, objected("zjj")),
			want: assigned(complaint, "wages-construction", "rsj").attempt(2).excluded("zjj").overrides("objection:wages-construction:zjj>")},
		{name: "second objection", in: Input{CategoryHint: complaint, Township: "meixi", Request: "征地补偿款至今未到位"},
			opt: reroute(3, objected("gov-meixi", "zrzyj")),
			want: assigned(complaint, DefaultRuleID, "xfj").attempt(3).excluded("gov-meixi", "zrzyj").
				overrides("objection:meixi-land:gov-meixi>xfj", "objection:land:zrzyj>xfj")},
		{name: "discipline body objected to an accusation", in: Input{CategoryHint: accusation, Respondent: "zjj", Request: "反映住建局干部受贿"},
			opt:  reroute(2, objected("jwjw")),
			want: assigned(accusation, DefaultRuleID, "xfj").attempt(2).excluded("jwjw", "zjj").overrides("objection:accusation-officials:jwjw>xfj")},
		{name: "supervising chain walks past the objecting body", in: Input{CategoryHint: accusation, Respondent: "xfj", Request: "信访局工作人员推诿"},
			opt:  reroute(2, objected("jwjw")),
			want: assigned(accusation, DefaultRuleID, "sjwjw").attempt(2).excluded("jwjw", "xfj").overrides("accusation:(default):xfj>sjwjw")},
		{name: "re-routing skips the repeat check", in: Input{CategoryHint: complaint, Request: "公司拖欠工资", RepeatOf: "C-1"},
			opt:  Options{Rerouting: true, Attempt: 2, Excluded: objected("rsj"), Repeat: Repeat{CaseID: "C-1", State: RepeatFinal}},
			want: assigned(complaint, DefaultRuleID, "xfj").attempt(2).excluded("rsj").overrides("objection:wages-social-insurance:rsj>xfj")},
		{name: "every candidate excluded: awaiting manual routing", in: Input{CategoryHint: accusation, Respondent: "xfj", Request: "信访局工作人员推诿"},
			opt:  reroute(3, objected("jwjw", "sjwjw")),
			want: outcome{Kind: KindAwaitingManual, Category: accusation, Attempt: 3, Excluded: []string{"jwjw", "sjwjw", "xfj"}}},

		// Officials named in the respondent (Art. 30(3), 46(5), 28(3)).
		{name: "accusation against a member by name", variant: "people", in: Input{CategoryHint: accusation, Respondent: "王五", Request: "举报王五收受贿赂"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("zjj")},
		{name: "accusation against the leader by name", variant: "people", in: Input{CategoryHint: accusation, Respondent: "张建国", Request: "举报局长违规发包工程"},
			want: assigned(accusation, DefaultRuleID, "xfj").excluded("zjj")},
		{name: "accusation against a discipline official matches the rule for its body", variant: "people", in: Input{CategoryHint: accusation, Respondent: "赵六", Request: "举报纪委干部受贿"},
			want: assigned(accusation, "accusation-against-jwjw", "sjwjw").excluded("jwjw")},
		{name: "rule pointing at the accused official's body is overridden", variant: "people-no-jwjw-rule", in: Input{CategoryHint: accusation, Respondent: "赵六", Request: "举报纪委干部受贿"},
			want: assigned(accusation, "accusation-officials", "sjwjw").excluded("jwjw").overrides("accusation:accusation-officials:jwjw>sjwjw")},
		{name: "namesakes in two departments: both kept off", variant: "people", in: Input{CategoryHint: accusation, Respondent: "李四", Request: "举报李四受贿"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("rsj", "zjj")},
		{name: "department and name: the named department's official", variant: "people", in: Input{CategoryHint: accusation, Respondent: "安吉县住房和城乡建设局李四", Request: "举报李四受贿"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("zjj")},
		{name: "department id and name", variant: "people", in: Input{CategoryHint: accusation, Respondent: "rsj 李四", Request: "举报李四受贿"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("rsj")},
		{name: "unlisted official of a named department", variant: "people", in: Input{CategoryHint: accusation, Respondent: "住房和城乡建设局钱七", Request: "举报钱七受贿"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("zjj")},
		{name: "complaint about the leader by post: the department is recused", in: Input{CategoryHint: complaint, Respondent: "住房和城乡建设局局长", Request: "小区电梯长期故障"},
			want: assigned(complaint, DefaultRuleID, "xfj").excluded("zjj").overrides("recusal:housing:zjj>xfj")},
		{name: "complaint about the leader by name: the department is recused", variant: "people", in: Input{CategoryHint: complaint, Respondent: "张建国", Request: "小区电梯长期故障"},
			want: assigned(complaint, DefaultRuleID, "xfj").excluded("zjj").overrides("recusal:housing:zjj>xfj")},
		{name: "complaint about a member: the department keeps it", variant: "people", in: Input{CategoryHint: complaint, Respondent: "王五", Request: "小区电梯长期故障"},
			want: assigned(complaint, "housing", "zjj")},
		{name: "complaint about a department: it handles it", in: Input{CategoryHint: complaint, Respondent: "zjj", Request: "小区电梯长期故障"},
			want: assigned(complaint, "housing", "zjj")},
		{name: "member recused by staff", variant: "people", in: Input{CategoryHint: complaint, Request: "小区电梯长期故障"},
			opt:  Options{Recused: []string{"王五"}},
			want: assigned(complaint, DefaultRuleID, "xfj").excluded("zjj").overrides("recusal:housing:zjj>xfj")},
		{name: "recused co-department removed", variant: "people", in: Input{CategoryHint: complaint, Facts: "在工地干了半年，老板不发工资"},
			opt:  Options{Recused: []string{"zjj 王五"}},
			want: assigned(complaint, "wages-construction", "rsj").excluded("zjj").overrides("recusal:wages-construction:zjj>")},

		// Jurisdiction: a township that is not the county's.
		{name: "another county's township is forwarded up", in: Input{CategoryHint: complaint, Township: "hongxi", Request: "小区电梯长期故障"},
			want: outcome{Kind: KindForwarded, Category: complaint, Rule: OutOfCountyRuleID, Dest: "上一级人民政府信访工作机构"}},
		{name: "to the county's higher bureau when it names one", variant: "higher", in: Input{CategoryHint: accusation, Township: "hongxi", Request: "举报镇干部受贿"},
			want: outcome{Kind: KindForwarded, Category: accusation, Rule: OutOfCountyRuleID, Dest: "湖州市信访局"}},
		{name: "a township by its name", in: Input{CategoryHint: complaint, Township: "梅溪镇", Request: "征地补偿款至今未到位"},
			want: assigned(complaint, "meixi-land", "gov-meixi", "zrzyj", "zjj")},
		{name: "unknown township, but about a county department", in: Input{CategoryHint: accusation, Township: "hongxi", Respondent: "zjj", Request: "举报住建局干部受贿"},
			want: assigned(accusation, "accusation-officials", "jwjw").excluded("zjj")},
		{name: "a repeat of a final case is refused before jurisdiction", in: Input{CategoryHint: complaint, Township: "hongxi", Request: "公司拖欠工资", RepeatOf: "C-1"},
			opt:  Options{Repeat: Repeat{CaseID: "C-1", State: RepeatFinal}},
			want: notAccepted(complaint, ReasonFinal, "36(3)", "C-1")},

		// The county calendar sets the acknowledgement date.
		{name: "acknowledgement over the National Day holiday", in: Input{CategoryHint: complaint, Request: "小区物业乱收费"},
			opt:  Options{RoutingDate: county.NewDate(2026, 9, 25)},
			want: assigned(complaint, "housing", "zjj").due("2026-10-08")},
		{name: "acknowledgement over the Spring Festival", in: Input{CategoryHint: complaint, Request: "小区物业乱收费"},
			opt:  Options{RoutingDate: county.NewDate(2026, 2, 5)},
			want: assigned(complaint, "housing", "zjj").due("2026-02-24")},
	}
}

func TestDecideAnji(t *testing.T) {
	variants := anjiVariants(t)
	cases := decideCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	kinds, reasons := map[Kind]bool{}, map[NotAcceptedReason]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := variants[tc.variant]
			opt := tc.opt
			if opt.RoutingDate.IsZero() {
				opt.RoutingDate = RoutingDate(testNow)
			}
			if opt.Attempt == 0 {
				opt.Attempt = 1
			}
			d, _, err := Decide(rs, tc.in, opt)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v (decision %+v)", err, tc.wantErr, d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := outcomeOf(d); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decision\n got  %+v\n want %+v\nreason: %s", got, tc.want, d.Reason)
			}
			if d.RulesVersion != rs.Version() || d.RulesVersion == "" {
				t.Errorf("rules version %q, want %q", d.RulesVersion, rs.Version())
			}
			if d.Reason == "" {
				t.Error("decision without reason")
			}
			if tc.source != "" && d.CategorySource != tc.source {
				t.Errorf("category source %s, want %s", d.CategorySource, tc.source)
			}
			if d.Kind == KindDiverted && d.Guidance == "" {
				t.Error("diversion without guidance")
			}
			kinds[d.Kind] = true
			if d.Kind == KindNotAccepted {
				reasons[d.NotAccepted] = true
			}
		})
	}
	for _, k := range []Kind{KindAssigned, KindDiverted, KindForwarded, KindNotAccepted} {
		if !kinds[k] {
			t.Errorf("no case produced a %s decision", k)
		}
	}
	for _, r := range []NotAcceptedReason{ReasonFinal, ReasonWithinTimeLimit, ReasonOutOfScope} {
		if !reasons[r] {
			t.Errorf("no case produced not-accepted reason %s", r)
		}
	}
}

func TestDecideIsDeterministic(t *testing.T) {
	rs := anji(t)
	in := Input{CategoryHint: accusation, Respondent: "xfj", Channel: county.ChannelVisit, Group: true, Request: "集体控告信访局接访人员"}
	opt := Options{RoutingDate: RoutingDate(testNow), Attempt: 1}
	first, _, _ := Decide(rs, in, opt)
	for range 20 {
		again, _, _ := Decide(rs, in, opt)
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("decisions differ:\n%+v\n%+v", first, again)
		}
	}
}

func TestExplainSaysWhyEarlierRulesDidNotMatch(t *testing.T) {
	rs := anji(t)
	in := Input{CategoryHint: complaint, Channel: county.ChannelWeb, Township: "dipu", Request: "小区电梯长期故障"}
	d, trace, err := Decide(rs, in, Options{RoutingDate: RoutingDate(testNow), Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.RuleID != "housing" {
		t.Fatalf("rule %s", d.RuleID)
	}
	var ids []string
	for _, r := range trace.Rules {
		ids = append(ids, r.ID)
	}
	want := []string{"accusation-against-jwjw", "accusation-officials", "forward-out-of-county", "litigation", "arbitration",
		"reconsideration", "group-visit", "meixi-land", "wages-construction", "wages-social-insurance", "rural", "land", "housing"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("traced rules %v, want %v", ids, want)
	}
	why := map[string]string{}
	for _, r := range trace.Rules[:len(trace.Rules)-1] {
		if r.Matched || len(r.Reasons) == 0 {
			t.Errorf("rule %s: matched=%v reasons=%v", r.ID, r.Matched, r.Reasons)
		}
		why[r.ID] = strings.Join(r.Reasons, "; ")
	}
	for id, frag := range map[string]string{
		"accusation-against-jwjw": "category complaint is not one of [accusation]",
		"forward-out-of-county":   "none of keywords.any",
		"group-visit":             "channel web is not one of [visit]",
		"meixi-land":              "township dipu is not one of [meixi]",
		"wages-construction":      `keywords.all: "工地" does not occur`,
	} {
		if !strings.Contains(why[id], frag) {
			t.Errorf("rule %s: reasons %q lack %q", id, why[id], frag)
		}
	}
	if !strings.Contains(why["accusation-against-jwjw"], "respondent (none given) is not one of [jwjw]") {
		t.Errorf("explain lists only the first failed condition: %q", why["accusation-against-jwjw"])
	}
	if last := trace.Rules[len(trace.Rules)-1]; !last.Matched || last.ID != "housing" {
		t.Errorf("last traced rule %+v", last)
	}
	// keywords.none explains itself too.
	_, trace, _ = Decide(rs, Input{CategoryHint: complaint, Request: "劳动仲裁裁定后公司仍不支付"}, Options{RoutingDate: RoutingDate(testNow), Explain: true})
	for _, r := range trace.Rules {
		if r.ID == "litigation" && !strings.Contains(strings.Join(r.Reasons, ";"), `keywords.none: "仲裁" occurs`) {
			t.Errorf("litigation reasons %v", r.Reasons)
		}
	}
}

func TestManualAssignRefusesTheAccused(t *testing.T) {
	rs := anji(t)
	in := Input{CategoryHint: accusation, Respondent: "zjj", Request: "举报住建局干部受贿"}
	opt := Options{RoutingDate: RoutingDate(testNow), Attempt: 2, Excluded: map[string]string{"rsj": GuardObjection}}
	if _, bad := ManualAssign(rs, in, accusation, "zjj", nil, opt); !strings.Contains(bad["lead"], "Art. 30(3)") {
		t.Errorf("lead = accused: %v", bad)
	}
	if _, bad := ManualAssign(rs, in, accusation, "jwjw", []string{"scjgj", "zjj"}, opt); !strings.Contains(bad["co[1]"], "accuses") {
		t.Errorf("co = accused: %v", bad)
	}
	if _, bad := ManualAssign(rs, in, accusation, "rsj", nil, opt); !strings.Contains(bad["lead"], "objected") {
		t.Errorf("lead = objecting department: %v", bad)
	}
	if _, bad := ManualAssign(rs, in, accusation, "nosuch", nil, opt); !strings.Contains(bad["lead"], "not defined") {
		t.Errorf("unknown lead: %v", bad)
	}
	// A complaint about the same department may go to it.
	d, bad := ManualAssign(rs, in, complaint, "zjj", []string{"gov-dipu"}, opt)
	if len(bad) > 0 || d.Lead != "zjj" || !d.Manual || d.Mode != ModeAssign || d.Attempt != 2 || d.RuleID != ManualRuleID || d.AcknowledgeDue != "2026-03-12" {
		t.Errorf("complaint: %+v %v", d, bad)
	}
}

// TestOfficialsGuardsSayWhy checks that a decision excluding a department
// for one of its officials names the official in the exclusion and in the
// override, and that a manual 转办 names them when it refuses.
func TestOfficialsGuardsSayWhy(t *testing.T) {
	v := anjiVariants(t)
	opt := Options{RoutingDate: RoutingDate(testNow), Attempt: 1}
	reasonOf := func(d Decision, dept string) string {
		for _, e := range d.Exclusions {
			if e.Department == dept {
				return e.Guard + ": " + e.Reason
			}
		}
		return ""
	}

	d, _, _ := Decide(v["people"], Input{CategoryHint: accusation, Respondent: "王五", Request: "举报王五收受贿赂"}, opt)
	if r := reasonOf(d, "zjj"); !strings.Contains(r, "accusation: the accused 王五 (an official of zjj)") || !strings.Contains(r, "Art. 30(3)") {
		t.Errorf("member accused: %q", r)
	}
	d, _, _ = Decide(v["people-no-jwjw-rule"], Input{CategoryHint: accusation, Respondent: "赵六", Request: "县纪委干部受贿"}, opt)
	if len(d.Overrides) != 1 || !strings.Contains(d.Overrides[0].Note, "赵六 (an official of jwjw)") || d.Overrides[0].Replacement != "sjwjw" {
		t.Errorf("override of the accused official's body: %+v", d.Overrides)
	}
	d, _, _ = Decide(v["people"], Input{CategoryHint: complaint, Respondent: "张建国", Request: "小区电梯长期故障"}, opt)
	if r := reasonOf(d, "zjj"); !strings.Contains(r, "recusal: the petition is about 张建国 (局长, the leader of zjj)") || !strings.Contains(r, "Art. 28(3)") ||
		!strings.Contains(d.Overrides[0].Note, "张建国") {
		t.Errorf("leader recused: %q %+v", r, d.Overrides)
	}
	d, _, _ = Decide(v[""], Input{CategoryHint: complaint, Respondent: "安吉县住房和城乡建设局局长", Request: "小区电梯长期故障"}, opt)
	if r := reasonOf(d, "zjj"); !strings.Contains(r, "局长, the leader of zjj") {
		t.Errorf("leader by post: %q", r)
	}
	d, _, _ = Decide(v["people"], Input{CategoryHint: complaint, Request: "小区电梯长期故障"}, Options{RoutingDate: RoutingDate(testNow), Recused: []string{"王五"}})
	if r := reasonOf(d, "zjj"); !strings.Contains(r, "recusal: 王五 (an official of zjj) recused by bureau staff") {
		t.Errorf("staff recusal: %q", r)
	}

	// A manual 转办 refuses the accused official's department, and the
	// department of an official staff recuse, naming them.
	in := Input{CategoryHint: accusation, Respondent: "王五", Request: "举报王五收受贿赂"}
	if _, bad := ManualAssign(v["people"], in, accusation, "zjj", nil, opt); !strings.Contains(bad["lead"], "王五") || !strings.Contains(bad["lead"], "Art. 30(3)") {
		t.Errorf("manual to the accused official's department: %v", bad)
	}
	in = Input{CategoryHint: complaint, Request: "小区电梯长期故障"}
	if _, bad := ManualAssign(v["people"], in, complaint, "xfj", []string{"rsj"}, Options{Recused: []string{"李四"}}); !strings.Contains(bad["co[0]"], "李四") {
		t.Errorf("manual to a recused official's department: %v", bad)
	}
	if d, bad := ManualAssign(v["people"], in, complaint, "xfj", nil, Options{Recused: []string{"李四"}}); len(bad) > 0 || strings.Join(d.Excluded, ",") != "rsj,zjj" {
		t.Errorf("manual with a recusal: %+v %v", d, bad)
	}
}

func TestResolveRespondent(t *testing.T) {
	rs := anjiVariants(t)["people"]
	for _, tc := range []struct {
		in, dept  string
		officials []string
	}{
		{"", "", nil},
		{"zjj", "zjj", nil},
		{"安吉县住房和城乡建设局", "zjj", nil},
		{"住房和城乡建设局", "zjj", nil}, // without the county's prefix, as intake accepts it
		{"县住房和城乡建设局", "zjj", nil},
		{"王五", "zjj", []string{"王五 (an official of zjj)"}},
		{"李四", "李四", []string{"李四 (an official of rsj)", "李四 (an official of zjj)"}},
		{"安吉县人力资源和社会保障局 李四", "rsj", []string{"李四 (an official of rsj)"}},
		{"张三（zjj）", "zjj", nil},
		{"住建局局长", "住建局局长", nil}, // an abbreviation the county file does not know
		{"安吉县住房和城乡建设局局长张建国", "zjj", []string{"张建国 (局长, the leader of zjj)"}},
		{"安吉县纪委县监委书记", "jwjw", []string{"书记、主任, the leader of jwjw"}},
		{"某外部单位", "某外部单位", nil},
	} {
		r := rs.resolveRespondent(tc.in)
		var got []string
		for _, o := range r.officials {
			got = append(got, o.String())
		}
		if r.department != tc.dept || !reflect.DeepEqual(got, tc.officials) {
			t.Errorf("%q: department %q officials %q, want %q %q", tc.in, r.department, got, tc.dept, tc.officials)
		}
	}
}

// TestTownshipsUnlistedMeansUnchecked: a county file without townships
// cannot tell another county's township from its own, so nothing is
// forwarded for its township.
func TestTownshipsUnlistedMeansUnchecked(t *testing.T) {
	rs := parseRuleset(t, edit(t, smallCounty, "  townships: [{id: dipu, name: 递铺街道}]\n", ""))
	d, _, err := Decide(rs, Input{CategoryHint: complaint, Township: "hongxi", Request: "小区电梯长期故障"}, Options{RoutingDate: RoutingDate(testNow)})
	if err != nil || d.Kind != KindAssigned || d.Lead != "xfj" {
		t.Fatalf("%+v %v", d, err)
	}
	rs = parseRuleset(t, smallCounty)
	if d, _, _ := Decide(rs, Input{CategoryHint: complaint, Township: "hongxi", Request: "小区电梯长期故障"}, Options{RoutingDate: RoutingDate(testNow)}); d.Kind != KindForwarded {
		t.Fatalf("with townships listed: %+v", d)
	}
}
