package supervision

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"xinfang.io/county"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/tracing"
	"xinfang.io/services/supervision/casemachine"
)

// Documents are the written notices rendered from a case, in Chinese, as
// self-contained HTML ready to print or convert to PDF. The petitioner's
// name is left blank: supervision holds no personal data (intake does), so
// the clerk or the print service fills it in.
var Documents = []string{"acceptance-notice", "non-acceptance-notice", "extension-notice", "opinion"}

// docLayout is every document's frame around its body. {Name} stands for
// docData's field Name, HTML-escaped (docFields); the documents are filled
// by plain substitution rather than html/template because text/template's
// reflective method calls stop the linker from dropping unused methods,
// which made the supervision binary 3 MB and its idle resident memory 1.5
// MiB larger (docs/benchmarks.md, county footprint).
const docLayout = `<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{Title}</title>
<style>body{font-family:"FangSong","STFangsong",serif;max-width:42em;margin:3em auto;line-height:2}h1{text-align:center;font-family:"SimHei","STHeiti",sans-serif;letter-spacing:.2em}p.no{text-align:right}p.body{text-indent:2em}p.sig{text-align:right;margin-top:3em}pre{white-space:pre-wrap;font:inherit;text-indent:2em;margin:0}</style>
</head><body>
<h1>{Title}</h1>
<p class="no">{Issuer}〔{Year}〕第{CaseID}号</p>
<p>信访人：<u>　　　　　　　　</u></p>
{body}
<p class="sig">{Issuer}（印章）<br>{Date}</p>
</body></html>
`

// docBodies give each document's body for a case: the text with {Name}
// placeholders, its conditional parts chosen here.
var docBodies = map[string]func(d *docData) string{
	"acceptance-notice": func(d *docData) string {
		due := ""
		if d.HandlingDue != "" {
			due = `（受理日期{AcceptedOn}，办理期限至{HandlingDue}）`
		}
		return `<p class="body">你（们）于{AssignedOn}经{County}信访工作机构转送（交办）我单位的信访事项（编号{CaseID}），经审查，属于我单位职权范围且符合受理条件，根据《信访工作条例》第二十三条的规定，决定予以受理。</p>
<p class="body">我单位将自受理之日起{HandlingDays}日内办结并出具书面处理意见` + due + `。情况复杂的，经批准可以适当延长办理期限，延长期限不超过三十日，并告知你（们）延期理由。</p>
<p class="body">特此告知。</p>`
	},
	"non-acceptance-notice": func(d *docData) string {
		var b string
		switch d.Decision {
		case "diverted":
			b = `<p class="body">你（们）反映的信访事项（编号{CaseID}），属于应当通过{Body}依法解决的事项。根据《信访工作条例》第二十二条、第三十一条的规定，信访部门不予受理，请依照法定途径办理：</p>
<pre>{Guidance}</pre>`
		case "declined":
			article := ""
			if d.Article != "" {
				article = `、第{Article}条`
			}
			b = `<p class="body">你（们）反映的信访事项（编号{CaseID}），经{County}信访工作机构于{AssignedOn}转送（交办）我单位。经审查，{Reason}。根据《信访工作条例》第二十三条` + article + `的规定，我单位决定不予受理。</p>
`
			switch {
			case d.Body != "":
				b += `<p class="body">该事项属于应当通过{Body}途径依法解决的事项，请依照法定途径办理：</p>
<pre>{Guidance}</pre>`
			case d.Guidance != "":
				b += `<pre>{Guidance}</pre>`
			}
		case "forwarded":
			b = `<p class="body">你（们）反映的信访事项（编号{CaseID}），不属于本级机关职权范围。根据《信访工作条例》第二十二条的规定，已转送{Destination}处理，请向其了解办理情况。</p>`
		default:
			article := ""
			if d.Article != "" {
				article = `第{Article}条`
			}
			b = `<p class="body">你（们）反映的信访事项（编号{CaseID}），{Reason}。根据《信访工作条例》` + article + `的规定，不予受理。</p>`
		}
		return b + `
<p class="body">特此告知。</p>`
	},
	"extension-notice": func(*docData) string {
		return `<p class="body">你（们）反映的信访事项（编号{CaseID}），我单位已于{AcceptedOn}受理。因{ExtensionReason}，不能在规定期限内办结。根据《信访工作条例》第三十四条的规定，经批准，办理期限延长{ExtensionDays}日，至{HandlingDue}。</p>
<p class="body">特此告知。</p>`
	},
	"opinion": func(*docData) string {
		return `<p class="body">你（们）反映的信访事项（编号{CaseID}），我单位已于{AcceptedOn}依法受理。经调查核实，现根据《信访工作条例》第三十二条的规定，提出处理意见如下：</p>
<p class="body">处理结论：<strong>{Outcome}</strong></p>
<pre>{Opinion}</pre>
<p class="body">如对本处理意见不服，可以自收到本处理意见书之日起三十日内，请求原办理行政机关的本级人民政府或者上一级行政机关复查（《信访工作条例》第三十五条）。</p>`
	},
}

// render fills the document named name (one of docBodies) for d.
func (d *docData) render(name string) string {
	page := strings.Replace(docLayout, "{body}", docBodies[name](d), 1)
	// One pass: a value that happens to contain "{Name}" is not expanded.
	return d.fields().Replace(page)
}

// fields maps each placeholder to its value, escaped as html/template
// escapes text: the opinion, reasons and guidance are typed by staff.
func (d *docData) fields() *strings.Replacer {
	return strings.NewReplacer(
		"{Title}", htmlText(d.Title), "{Issuer}", htmlText(d.Issuer), "{County}", htmlText(d.County),
		"{CaseID}", htmlText(d.CaseID), "{Year}", htmlText(d.Year), "{Date}", htmlText(d.Date),
		"{AssignedOn}", htmlText(d.AssignedOn), "{AcceptedOn}", htmlText(d.AcceptedOn), "{HandlingDue}", htmlText(d.HandlingDue),
		"{HandlingDays}", strconv.Itoa(d.HandlingDays), "{ExtensionDays}", strconv.Itoa(d.ExtensionDays),
		"{ExtensionReason}", htmlText(d.ExtensionReason), "{Outcome}", htmlText(d.Outcome), "{Opinion}", htmlText(d.Opinion),
		"{Decision}", htmlText(d.Decision), "{Body}", htmlText(d.Body), "{Guidance}", htmlText(d.Guidance),
		"{Destination}", htmlText(d.Destination), "{Article}", htmlText(d.Article), "{Reason}", htmlText(d.Reason),
	)
}

// htmlText escapes s for HTML text exactly as html/template does there.
var htmlText = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;").Replace

var docTitles = map[string]string{
	"acceptance-notice": "受理告知书", "non-acceptance-notice": "不予受理告知书",
	"extension-notice": "延期告知书", "opinion": "信访事项处理意见书",
}

var legalChannelNames = map[string]string{
	"litigation": "诉讼", "arbitration": "仲裁", "party-discipline": "党员申诉",
	"administrative-reconsideration": "行政复议", "administrative-ruling": "行政裁决",
	"administrative-confirmation": "行政确认", "administrative-licensing": "行政许可",
	"administrative-penalty": "行政处罚", "other-legal": "其他法定",
}

var outcomeNames = map[string]string{"supported": "支持", "explained": "解释说明", "not-supported": "不予支持"}

type docData struct {
	Title, Issuer, County, CaseID, Year, Date string
	AssignedOn, AcceptedOn, HandlingDue       string
	HandlingDays, ExtensionDays               int
	ExtensionReason, Outcome, Opinion         string
	Decision, Body, Guidance, Destination     string
	Article, Reason                           string
}

// Document renders one of the case's written notices as HTML. A document
// the case has not reached (no extension, no reply yet) is a Conflict.
func (s *Supervision) Document(ctx context.Context, caseID, name string) (string, error) {
	cl, err := auth.Require(ctx, staff...)
	if err != nil {
		return "", err
	}
	tracing.SetCaseID(ctx, caseID)
	if _, ok := docBodies[name]; !ok {
		return "", apierror.New(apierror.NotFound, "no document %q (documents: %s)", name, strings.Join(Documents, ", "))
	}
	c, err := loadCase(ctx, s.db, caseID, false)
	if err != nil {
		return "", err
	}
	if c == nil || !canSee(cl, c) {
		return "", notFound(caseID)
	}
	d, err := documentData(c, s.config(), name)
	if err != nil {
		return "", err
	}
	return d.render(name), nil
}

func documentData(c *casemachine.Case, cfg *county.Config, name string) (*docData, error) {
	d := &docData{Title: docTitles[name], County: cfg.Spec.DisplayName, CaseID: c.ID}
	d.Issuer = departmentName(cfg, c.Department)
	if !c.AssignedOn.IsZero() {
		d.AssignedOn = chineseDate(c.AssignedOn)
	}
	var handling *casemachine.Clock
	for i := range c.Clocks {
		if c.Clocks[i].Kind == casemachine.ClockHandling {
			handling = &c.Clocks[i] // the latest (after 退回重办, the new one)
		}
	}
	if handling != nil {
		d.AcceptedOn, d.HandlingDue = chineseDate(handling.Start), chineseDate(handling.Due)
	}
	d.HandlingDays = cfg.Deadlines.HandlingDaysFor(c.Category)
	missing := func(what string) error {
		return apierror.New(apierror.Conflict, "case %s has no %s: %s", c.ID, docTitles[name], what)
	}
	var on county.Date
	switch name {
	case "acceptance-notice":
		for _, k := range c.Clocks {
			if k.Kind == casemachine.ClockAcknowledge && k.Status == casemachine.ClockMet {
				on = k.Ended
			}
		}
		if on.IsZero() {
			return nil, missing("it was not acknowledged (受理告知)")
		}
	case "extension-notice":
		if !c.Extended {
			return nil, missing("it was not extended")
		}
		for _, k := range c.Clocks {
			if k.Kind == casemachine.ClockHandling && k.ExtendedDays > 0 {
				d.ExtensionDays = k.ExtendedDays
				d.AcceptedOn, d.HandlingDue = chineseDate(k.Start), chineseDate(k.Due)
			}
		}
		d.ExtensionReason, on = c.ExtensionReason, c.ExtendedOn
	case "opinion":
		if c.Reply == nil {
			return nil, missing("no handling opinion was issued")
		}
		d.Outcome, d.Opinion, on = outcomeNames[c.Reply.Outcome], c.Reply.Opinion, c.Reply.RepliedOn
	case "non-acceptance-notice":
		r := c.RoutedOut
		if r == nil {
			return nil, missing("neither routing nor the department refused it")
		}
		d.Issuer = departmentName(cfg, bureauOf(cfg))
		d.Decision, d.Body, d.Guidance, d.Destination, d.Article, d.Reason = r.Decision, r.Body, r.Guidance, r.Destination, r.Article, r.Reason
		if r.Decision == "declined" {
			// The department's own 不予受理告知书 (Art. 23), in its name.
			d.Issuer, d.Body = departmentName(cfg, r.Department), legalChannelNames[r.LegalChannel]
		}
		if d.Reason == "" {
			d.Reason = "不属于信访事项受理范围"
		}
		on = r.On
	}
	if on.IsZero() {
		on = c.AssignedOn
	}
	d.Date, d.Year = chineseDate(on), fmt.Sprint(on.Year())
	return d, nil
}

func departmentName(cfg *county.Config, id string) string {
	if d, ok := cfg.Department(id); ok {
		return d.Name
	}
	return id
}

func bureauOf(cfg *county.Config) string {
	for _, d := range cfg.Spec.Departments {
		if d.Kind == county.KindBureau {
			return d.ID
		}
	}
	return cfg.Spec.DefaultDepartment
}

func chineseDate(d county.Date) string {
	return fmt.Sprintf("%d年%d月%d日", d.Year(), int(d.Month()), d.Day())
}
