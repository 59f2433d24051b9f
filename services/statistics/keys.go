package statistics

import (
	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
)

// The contract's enums as the keys stored in case rows and counters.

var channelKeys = map[eventsv1.Channel]string{
	eventsv1.Channel_CHANNEL_WEB: "web", eventsv1.Channel_CHANNEL_LETTER: "letter",
	eventsv1.Channel_CHANNEL_VISIT: "visit", eventsv1.Channel_CHANNEL_PHONE: "phone",
	eventsv1.Channel_CHANNEL_FAX: "fax",
}

var categoryKeys = map[eventsv1.Category]string{
	eventsv1.Category_CATEGORY_COMPLAINT:  string(county.CategoryComplaint),
	eventsv1.Category_CATEGORY_SUGGESTION: string(county.CategorySuggestion),
	eventsv1.Category_CATEGORY_ACCUSATION: string(county.CategoryAccusation),
}

var legalChannelKeys = map[eventsv1.LegalChannel]string{
	eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION:                     "litigation",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ARBITRATION:                    "arbitration",
	eventsv1.LegalChannel_LEGAL_CHANNEL_PARTY_DISCIPLINE:               "party-discipline",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RECONSIDERATION: "administrative-reconsideration",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RULING:          "administrative-ruling",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_CONFIRMATION:    "administrative-confirmation",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_LICENSING:       "administrative-licensing",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_PENALTY:         "administrative-penalty",
	eventsv1.LegalChannel_LEGAL_CHANNEL_OTHER_LEGAL:                    "other-legal",
}

var ratingKeys = map[eventsv1.Rating]string{
	eventsv1.Rating_RATING_SATISFIED: ratingSatisfied, eventsv1.Rating_RATING_BASICALLY: ratingBasically,
	eventsv1.Rating_RATING_DISSATISFIED: ratingDissatisfied, eventsv1.Rating_RATING_LAPSED: ratingLapsed,
}

var reviewOutcomeKeys = map[eventsv1.ReviewOutcome]string{
	eventsv1.ReviewOutcome_REVIEW_OUTCOME_UPHELD:  "upheld",
	eventsv1.ReviewOutcome_REVIEW_OUTCOME_REVOKED: "revoked",
	eventsv1.ReviewOutcome_REVIEW_OUTCOME_CHANGED: "changed",
}

var closeReasonKeys = map[eventsv1.CloseReason]string{
	eventsv1.CloseReason_CLOSE_REASON_WINDOW_LAPSED: "window_lapsed",
	eventsv1.CloseReason_CLOSE_REASON_WITHDRAWN:     "withdrawn",
	eventsv1.CloseReason_CLOSE_REASON_MEDIATED:      "mediated",
	eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT:    closeRoutedOut,
	eventsv1.CloseReason_CLOSE_REASON_COMPLETED:     "completed",
}

// overdueClocks are the clocks whose OVERDUE action marks a case overdue
// for its department (the obligations a department or reviewing body owes),
// with the event types that satisfy each and so clear the mark.
var overdueClocks = map[eventsv1.Clock]string{
	eventsv1.Clock_CLOCK_ROUTING:            "routing",
	eventsv1.Clock_CLOCK_ACKNOWLEDGE:        "acknowledge",
	eventsv1.Clock_CLOCK_HANDLING:           "handling",
	eventsv1.Clock_CLOCK_REVIEW_DECISION:    "review",
	eventsv1.Clock_CLOCK_RE_REVIEW_DECISION: "re_review",
}

// errRefused marks an event statistics cannot apply (dead-lettered).
