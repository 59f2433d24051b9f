package statistics

import "xinfang.io/county"

var channelLabels = map[string]string{
	"web": "网上信访", "letter": "来信", "visit": "来访", "phone": "来电", "fax": "传真",
}

var categoryLabels = map[string]string{
	string(county.CategoryComplaint):  "申诉求决类",
	string(county.CategorySuggestion): "建议意见类",
	string(county.CategoryAccusation): "检举控告类",
}

var legalChannelLabels = map[string]string{
	"litigation":                     "诉讼",
	"arbitration":                    "仲裁",
	"party-discipline":               "党员申诉",
	"administrative-reconsideration": "行政复议",
	"administrative-ruling":          "行政裁决",
	"administrative-confirmation":    "行政确认",
	"administrative-licensing":       "行政许可",
	"administrative-penalty":         "行政处罚",
	"other-legal":                    "其他法定途径",
}

var alertKindLabels = map[string]string{
	alertGroup:   "集体信访",
	alertSpike:   "信访量异常增长",
	alertRepeat:  "重复信访人",
	alertOverdue: "超期积压",
}

// labeler names dimension keys in Chinese from the county configuration.
type labeler struct{ cfg *county.Config }

func (l labeler) of(dim string) func(string) string {
	return func(key string) string { return l.label(dim, key) }
}

func (l labeler) label(dim, key string) string {
	if key == "" {
		switch dim {
		case dimDepartment:
			return "信访部门（待转送）"
		default:
			return "未填写"
		}
	}
	switch dim {
	case dimChannel:
		if s, ok := channelLabels[key]; ok {
			return s
		}
	case dimCategory:
		if s, ok := categoryLabels[key]; ok {
			return s
		}
	case dimLegalChannel:
		if s, ok := legalChannelLabels[key]; ok {
			return s
		}
	case dimTownship:
		if l.cfg != nil {
			for _, t := range l.cfg.Spec.Townships {
				if t.ID == key {
					return t.Name
				}
			}
		}
	case dimDepartment, dimRespondent:
		if l.cfg != nil {
			if d, ok := l.cfg.Department(key); ok {
				return d.Name
			}
		}
	}
	return key
}
