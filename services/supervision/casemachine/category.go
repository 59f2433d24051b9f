package casemachine

import (
	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
)

// Category conversions between the contract and the county schema.
func categoryProto(c county.Category) eventsv1.Category {
	switch c {
	case county.CategoryComplaint:
		return eventsv1.Category_CATEGORY_COMPLAINT
	case county.CategorySuggestion:
		return eventsv1.Category_CATEGORY_SUGGESTION
	case county.CategoryAccusation:
		return eventsv1.Category_CATEGORY_ACCUSATION
	}
	return eventsv1.Category_CATEGORY_UNSPECIFIED
}

func categoryOf(c eventsv1.Category) county.Category {
	switch c {
	case eventsv1.Category_CATEGORY_COMPLAINT:
		return county.CategoryComplaint
	case eventsv1.Category_CATEGORY_SUGGESTION:
		return county.CategorySuggestion
	case eventsv1.Category_CATEGORY_ACCUSATION:
		return county.CategoryAccusation
	}
	return ""
}
