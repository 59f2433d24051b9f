// Command demo plays a day of petitions in 安吉县 against a running dev
// county (make demo = hack/run.sh --demo): it registers petitions over every
// channel and category — a repeat, a group visit, an accusation against 住建局,
// a litigation matter — then acts as the departments through the
// supervision API on an accelerated dev clock (XINFANG_DEV_CLOCK_*, the same
// settings the services run with), leaves some cases untouched so reminders
// and a 督办 notice fire, narrates what happens and prints the statistics
// summary. Dev mode only: it mints tokens with the dev HS256 secret.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"xinfang.io/services/kit/auth"
)

var cst = time.FixedZone("CST", 8*3600)

// names are the short names of 安吉县's units for the narrative.
var names = map[string]string{
	"xfj": "信访局", "rsj": "人社局", "zjj": "住建局", "zrzyj": "自然资源局", "gaj": "公安局", "fy": "法院",
	"jcy": "检察院", "jwjw": "纪委监委", "sjwjw": "市纪委监委", "jyj": "教育局", "wjj": "卫健局", "scjgj": "市场监管局",
	"sthjj": "生态环境分局", "nyncj": "农业农村局", "gov-dipu": "递铺街道", "gov-tianzihu": "天子湖镇", "gov-meixi": "梅溪镇",
}

func name(id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}

type demo struct {
	intake, supervision, statistics string
	secret                          []byte
	county                          string
	speed                           int
	start, epoch                    time.Time
	hc                              *http.Client
	tokens                          map[string]string
	cases                           []*kase
}

// kase is one petition of the script and what the demo has seen of it.
type kase struct {
	label     string // short description for the narrative
	caseID    string
	queryCode string
	dept      string
	state     string
	notices   map[string]bool
}

// now is the dev clock's time, computed like the services' accelerated clock.
func (d *demo) now() time.Time {
	return d.start.Add(time.Duration(d.speed) * time.Since(d.epoch)).In(cst)
}

func (d *demo) say(format string, args ...any) {
	fmt.Printf("%s  %s\n", d.now().Format("2006-01-02 15:04"), fmt.Sprintf(format, args...))
}

func (d *demo) token(role, dept string) string {
	key := role + "/" + dept
	if t, ok := d.tokens[key]; ok {
		return t
	}
	sub := strings.Trim("demo-"+role+"-"+dept, "-")
	t, err := auth.Sign(d.secret, auth.Claims{County: d.county, Role: auth.Role(role), Department: dept,
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub}}, 24*time.Hour)
	if err != nil {
		fatal(err)
	}
	d.tokens[key] = t
	return t
}

// call does one JSON request; out may be nil.
func (d *demo) call(ctx context.Context, method, url, tok string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

type person struct {
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Address string `json:"address"`
}

type petition struct {
	Channel     string   `json:"channel"`
	Petitioners []person `json:"petitioners"`
	PersonCount int      `json:"personCount,omitempty"`
	Township    string   `json:"township,omitempty"`
	Title       string   `json:"title"`
	Content     struct {
		Request string `json:"request"`
		Facts   string `json:"facts"`
		Reasons string `json:"reasons"`
	} `json:"content"`
	Category   string `json:"category,omitempty"`
	Respondent string `json:"respondent,omitempty"`
}

func pet(channel, category, township, title, request, facts, reasons string, ps ...person) petition {
	p := petition{Channel: channel, Category: category, Township: township, Title: title, Petitioners: ps}
	p.Content.Request, p.Content.Facts, p.Content.Reasons = request, facts, reasons
	return p
}

var (
	wangwu = person{"王五", "13812345678", "安吉县递铺街道文昌路8号"}
	lisi   = person{"李四", "13957211234", "安吉县昌硕街道阳光小区3幢"}
	zhao   = person{"赵敏", "0572-5123456", "安吉县孝丰镇横溪坞村"}
	chen   = person{"陈建国", "13705722345", "安吉县天子湖镇高禹村"}
	sun    = person{"孙丽", "15888123456", "安吉县灵峰街道剑山路12号"}
	zhou   = person{"周大海", "13967234567", "安吉县梅溪镇晓墅村"}
	wu     = person{"吴小红", "18857234567", "安吉县递铺街道胜利西路5号"}
)

func (d *demo) register(ctx context.Context, label string, p petition) *kase {
	var out struct {
		CaseID    string  `json:"caseId"`
		QueryCode string  `json:"queryCode"`
		RepeatOf  *string `json:"repeatOf"`
		Group     bool    `json:"group"`
	}
	if _, err := d.call(ctx, "POST", d.intake+"/v1/petitions", d.token("clerk", ""), p, &out); err != nil {
		d.say("登记失败 %s: %v", label, err)
		return nil
	}
	extra := ""
	if out.RepeatOf != nil {
		extra += "，重复信访（原件 " + *out.RepeatOf + "）"
	}
	if out.Group {
		extra += fmt.Sprintf("，集体访 %d 人", max(p.PersonCount, len(p.Petitioners)))
	}
	d.say("登记 [%s] %s %s → %s（查询码 %s%s）", p.Channel, label, p.Title, out.CaseID, out.QueryCode, extra)
	k := &kase{label: label, caseID: out.CaseID, queryCode: out.QueryCode, notices: map[string]bool{}}
	d.cases = append(d.cases, k)
	return k
}

// caseView is what the demo reads of GET /v1/cases.
type caseView struct {
	CaseID     string `json:"caseId"`
	State      string `json:"state"`
	Department string `json:"department"`
	Notices    []struct {
		EventID    string `json:"eventId"`
		Kind       string `json:"kind"`
		Clock      string `json:"clock"`
		Department string `json:"department"`
		IssuedOn   string `json:"issuedOn"`
	} `json:"notices"`
	CloseReason string `json:"closeReason"`
}

// watch reads every case as the supervisor and narrates routing, state
// changes, reminders and 督办 notices.
func (d *demo) watch(ctx context.Context) (duban int) {
	var list struct {
		Cases []caseView `json:"cases"`
	}
	if _, err := d.call(ctx, "GET", d.supervision+"/v1/cases?limit=500", d.token("supervisor", ""), nil, &list); err != nil {
		d.say("读取案件失败: %v", err)
		return 0
	}
	byID := map[string]caseView{}
	for _, c := range list.Cases {
		byID[c.CaseID] = c
	}
	for _, k := range d.cases {
		c, ok := byID[k.caseID]
		if !ok {
			continue
		}
		if k.dept == "" && c.Department != "" {
			k.dept = c.Department
			d.say("分办 %s → %s", k.label, name(c.Department))
		}
		if c.State != k.state {
			if k.state != "" {
				d.say("%s %s：%s → %s", name(c.Department), k.label, k.state, c.State)
			}
			k.state = c.State
		}
		if k.state == "closed" || k.state == "evaluated" {
			continue
		}
		// Reminders and 督办 notices are supervision actions in the history.
		var v struct {
			History []struct {
				EventID string `json:"eventId"`
				Type    string `json:"type"`
				Reason  string `json:"reason"`
			} `json:"history"`
		}
		if _, err := d.call(ctx, "GET", d.supervision+"/v1/cases/"+k.caseID, d.token("supervisor", ""), nil, &v); err != nil {
			continue
		}
		for _, h := range v.History {
			if k.notices[h.EventID] || !strings.Contains(strings.ToLower(h.Type), "supervision") {
				continue
			}
			k.notices[h.EventID] = true
			msg := strings.ReplaceAll(h.Reason, "案件"+k.caseID, k.label)
			if strings.HasPrefix(msg, "【督办") {
				msg += " → " + name(k.dept)
			}
			d.say("%s", msg)
		}
	}
	for _, c := range list.Cases {
		for _, n := range c.Notices {
			if n.Kind != "reminder" {
				duban++
			}
		}
	}
	return duban
}

// act performs a department action on a case as that department.
func (d *demo) act(ctx context.Context, k *kase, action string, body map[string]any, narrative string) {
	if k == nil || k.dept == "" {
		return
	}
	if body == nil {
		body = map[string]any{}
	}
	if _, err := d.call(ctx, "POST", d.supervision+"/v1/cases/"+k.caseID+"/"+action, d.token("department", k.dept), body, nil); err != nil {
		d.say("%s %s %s 失败: %v", name(k.dept), action, k.label, err)
		return
	}
	d.say("%s %s %s", name(k.dept), narrative, k.label)
}

// step is one scripted department action, due on a dev day after the start.
type step struct {
	day       float64
	k         *kase
	action    string
	body      map[string]any
	narrative string
}

func main() {
	var d demo
	secretFile := flag.String("secret-file", ".dev/demo/keys/auth-hs256.secret", "the dev HS256 secret the services verify tokens with")
	flag.StringVar(&d.intake, "intake", "http://127.0.0.1:8081", "intake URL")
	flag.StringVar(&d.supervision, "supervision", "http://127.0.0.1:8083", "supervision URL")
	flag.StringVar(&d.statistics, "statistics", "http://127.0.0.1:8084", "statistics URL")
	flag.StringVar(&d.county, "county", "anji", "county id")
	watchFor := flag.Duration("watch", 100*time.Second, "how long (real time) to follow the cases after registering")
	flag.Parse()
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		fatal(err)
	}
	d.secret = []byte(strings.TrimSpace(string(secret)))
	d.speed, _ = strconv.Atoi(os.Getenv("XINFANG_DEV_CLOCK_SPEED"))
	d.start, _ = time.Parse(time.RFC3339, os.Getenv("XINFANG_DEV_CLOCK_START"))
	d.epoch, _ = time.Parse(time.RFC3339, os.Getenv("XINFANG_DEV_CLOCK_EPOCH"))
	if d.speed < 1 || d.start.IsZero() || d.epoch.IsZero() {
		fatal(fmt.Errorf("set XINFANG_DEV_CLOCK_SPEED, _START and _EPOCH as the services have them (hack/run.sh --demo does)"))
	}
	d.hc = &http.Client{Timeout: 10 * time.Second}
	d.tokens = map[string]string{}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	fmt.Printf("演示：安吉县的一天，开发时钟 %d 倍速（约 %s 一天）\n", d.speed, (24 * time.Hour / time.Duration(d.speed)).Round(100*time.Millisecond))
	wage := d.register(ctx, "王五欠薪", pet("letter", "申诉求决", "dipu", "拖欠工资", "请求责令支付拖欠工资",
		"某服装公司拖欠三个月工资共计一万二千元", "劳动者有权按时获得劳动报酬", wangwu))
	lift := d.register(ctx, "李四电梯", pet("web", "建议意见", "changshuo", "小区电梯长期故障", "建议督促物业尽快维修小区电梯",
		"阳光小区3幢电梯停运两个月，老人上下楼困难", "保障居民基本出行安全", lisi))
	noise := d.register(ctx, "赵敏噪音", pet("phone", "申诉求决", "xiaofeng", "夜间施工噪音扰民", "请求查处夜间施工噪音",
		"横溪坞村附近石料厂夜间作业噪音严重，持续一个月", "影响村民休息", zhao))
	land := d.register(ctx, "陈建国宅基地", pet("visit", "申诉求决", "tianzihu", "宅基地审批", "请求依法审批宅基地申请",
		"去年提交的宅基地申请至今未审批", "符合一户一宅条件", chen))
	school := d.register(ctx, "孙丽入学", pet("fax", "建议意见", "lingfeng", "学区划分", "建议调整灵峰街道小学学区划分",
		"新建楼盘适龄儿童入学需跨街道就读", "就近入学", sun))
	rural := d.register(ctx, "吴小红土地流转", pet("web", "申诉求决", "dipu", "土地流转费未付", "请求督促支付土地流转费",
		"村里土地流转给白茶合作社后两年未付流转费", "合同约定每年支付", wu))
	g := pet("visit", "申诉求决", "meixi", "征地拆迁安置补偿", "请求落实征地拆迁安置补偿",
		"晓墅村三十户村民的征地补偿款至今未足额发放", "补偿标准应按公告执行", zhou,
		person{"钱伟", "13905721111", "安吉县梅溪镇晓墅村"}, person{"孔梅", "13905722222", "安吉县梅溪镇晓墅村"},
		person{"冯强", "13905723333", "安吉县梅溪镇晓墅村"}, person{"褚云", "13905724444", "安吉县梅溪镇晓墅村"})
	g.PersonCount = 30
	group := d.register(ctx, "晓墅村集体访", g)
	acc := pet("letter", "检举控告", "dipu", "举报住建局干部受贿", "请求查处县住建局干部受贿问题",
		"县住建局某科长收受开发商财物，为其违规验收开绿灯", "公职人员受贿违纪违法", wu)
	acc.Respondent = "zjj"
	accusation := d.register(ctx, "检举住建局干部", acc)
	lit := d.register(ctx, "判决执行", pet("visit", "申诉求决", "xiaoyuan", "判决不履行", "请求法院强制执行判决",
		"法院判决对方赔偿三万元，对方拒不履行", "生效判决应当执行", person{"郑秋", "13867231234", "安吉县孝源街道"}))
	repeat := d.register(ctx, "王五欠薪（再次来信）", pet("letter", "申诉求决", "dipu", "拖欠工资", "请求责令支付拖欠工资",
		"某服装公司拖欠三个月工资共计一万二千元，至今未付", "劳动者有权按时获得劳动报酬", wangwu))
	_ = repeat

	steps := []step{
		{1, wage, "acknowledge", nil, "受理告知"},
		{1, accusation, "acknowledge", nil, "受理告知"},
		{1, group, "acknowledge", nil, "受理告知"},
		{1.5, noise, "acknowledge", nil, "受理告知"},
		{2, wage, "accept", nil, "受理"},
		{2, land, "acknowledge", nil, "受理告知"},
		{2, accusation, "accept", nil, "受理"},
		{2.5, group, "accept", nil, "受理"},
		{3, noise, "accept", nil, "受理"},
		{3, land, "accept", nil, "受理"},
		{4, school, "acknowledge", nil, "受理告知"},
		{6, wage, "reply", map[string]any{"outcome": "supported", "opinion": "经查属实，已责令该公司十日内支付拖欠工资一万二千元。"}, "答复（支持）"},
		{7, wage, "serve", map[string]any{"method": "post"}, "送达处理意见"},
		{8, land, "reply", map[string]any{"outcome": "explained", "opinion": "您的宅基地申请已进入村级公示，公示期满后依法审批。"}, "答复（解释说明）"},
		{9, land, "serve", map[string]any{"method": "in-person"}, "送达处理意见"},
		{9, wage, "evaluate", map[string]any{"target": "handling-unit", "rating": "satisfied"}, "记录评价（对办理单位：满意）"},
		{9, wage, "evaluate", map[string]any{"target": "bureau", "rating": "satisfied"}, "记录评价（对信访局：满意）"},
		{10, noise, "reply", map[string]any{"outcome": "supported", "opinion": "已责令石料厂夜间停止作业并处以罚款。"}, "答复（支持）"},
		{11, noise, "serve", map[string]any{"method": "electronic"}, "送达处理意见"},
		{12, land, "evaluate", map[string]any{"target": "handling-unit", "rating": "basically-satisfied"}, "记录评价（对办理单位：基本满意）"},
		{12, land, "evaluate", map[string]any{"target": "bureau", "rating": "dissatisfied"}, "记录评价（对信访局：不满意）"},
	}
	_ = lift  // 住建局 leaves it: reminders, then 督办
	_ = rural // 农业农村局 leaves it too

	// Routing takes a moment: wait until the cases are assigned, then
	// report the diverted one from the public query.
	deadline, lastAssigned := time.Now().Add(15*time.Second), -1
	for time.Now().Before(deadline) && ctx.Err() == nil {
		d.watch(ctx)
		assigned := 0
		for _, k := range d.cases {
			if k.dept != "" {
				assigned++
			}
		}
		if assigned > 0 && assigned == lastAssigned {
			break // routed: the diverted and the repeat need no department action
		}
		lastAssigned = assigned
		time.Sleep(300 * time.Millisecond)
	}
	if lit != nil {
		var q struct {
			Status      string `json:"status"`
			StatusLabel string `json:"statusLabel"`
		}
		if _, err := d.call(ctx, "GET", d.intake+"/v1/query/"+lit.queryCode, "", nil, &q); err == nil {
			d.say("诉访分离 %s：%s（%s）", lit.label, q.StatusLabel, q.Status)
		}
	}

	end, day0 := time.Now().Add(*watchFor), d.now()
	d.say("各部门开始办理（此后每 %s 为一天）", (24 * time.Hour / time.Duration(d.speed)).Round(100*time.Millisecond))
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].day < steps[j].day })
	var dubanAt time.Time
	for ctx.Err() == nil && time.Now().Before(end) {
		for len(steps) > 0 && d.now().Sub(day0) >= time.Duration(steps[0].day*float64(24*time.Hour)) {
			s := steps[0]
			steps = steps[1:]
			d.act(ctx, s.k, s.action, s.body, s.narrative)
		}
		if d.watch(ctx) > 0 && dubanAt.IsZero() {
			dubanAt = time.Now()
		}
		// Stop a dev day after the first 督办 once the script is played.
		if !dubanAt.IsZero() && len(steps) == 0 && time.Since(dubanAt) > 3*time.Second {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	d.summary(context.Background())
}

func (d *demo) summary(ctx context.Context) {
	today := d.now().Format("2006-01-02")
	var s struct {
		Today  string `json:"today"`
		Counts map[string]struct {
			Label string `json:"label"`
			Value int64  `json:"value"`
		} `json:"counts"`
		Rates map[string]struct {
			Label       string   `json:"label"`
			Numerator   int64    `json:"numerator"`
			Denominator int64    `json:"denominator"`
			Percent     *float64 `json:"percent"`
		} `json:"rates"`
		Backlog struct {
			Total int64 `json:"total"`
		} `json:"backlog"`
	}
	url := fmt.Sprintf("%s/v1/stats/summary?from=%s-01-01&to=%s", d.statistics, today[:4], today)
	if _, err := d.call(ctx, "GET", url, d.token("supervisor", ""), nil, &s); err != nil {
		fmt.Println("statistics:", err)
		return
	}
	fmt.Printf("\n统计（%s-01-01 至 %s，截至 %s）\n", today[:4], today, s.Today)
	for _, k := range sortedKeys(s.Counts) {
		fmt.Printf("  %-24s %d\n", s.Counts[k].Label, s.Counts[k].Value)
	}
	for _, k := range sortedKeys(s.Rates) {
		r := s.Rates[k]
		p := "—"
		if r.Percent != nil {
			p = fmt.Sprintf("%.1f%%", *r.Percent)
		}
		fmt.Printf("  %-24s %s (%d/%d)\n", r.Label, p, r.Numerator, r.Denominator)
	}
	fmt.Printf("  %-24s %d\n", "积案（未办结）", s.Backlog.Total)
	fmt.Printf("\n仪表盘 %s/ （令牌：.dev/demo/tokens/supervisor.jwt）\n", d.statistics)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "demo:", err)
	os.Exit(1)
}
