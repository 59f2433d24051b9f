package eventsv1

import (
	"fmt"
	"regexp"
	"strings"
)

// Stream is one of a county's topics; the topic name is
// "xinfang.<county>.<stream>" (DESIGN.md, "Services and data flow").
type Stream string

const (
	// StreamPetitions carries petition.registered (intake → routing, statistics).
	StreamPetitions Stream = "petitions"
	// StreamRouting carries routing decisions case.assigned / diverted /
	// forwarded / not_accepted (routing → supervision, statistics, intake).
	StreamRouting Stream = "routing"
	// StreamCases carries every lifecycle event supervision records, including
	// case.objected and case.final that routing consumes.
	StreamCases Stream = "cases"
	// StreamAlerts carries alert.raised (statistics).
	StreamAlerts Stream = "alerts"
	// StreamDeadLetter receives messages a consumer could not apply, with the
	// error and origin in headers.
	StreamDeadLetter Stream = "deadletter"
)

// Streams lists the streams every county has.
func Streams() []Stream {
	return []Stream{StreamPetitions, StreamRouting, StreamCases, StreamAlerts, StreamDeadLetter}
}

var countyID = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Topic returns the Kafka topic of a county's stream.
func Topic(county string, s Stream) (string, error) {
	if !countyID.MatchString(county) {
		return "", fmt.Errorf("topic: county id %q is not a DNS label", county)
	}
	return "xinfang." + county + "." + string(s), nil
}

// StreamOf returns the stream an event type is published on.
func StreamOf(eventType string) Stream {
	switch {
	case eventType == "petition.registered":
		return StreamPetitions
	case eventType == "case.assigned", eventType == "case.diverted",
		eventType == "case.forwarded", eventType == "case.not_accepted":
		return StreamRouting
	case strings.HasPrefix(eventType, "alert."):
		return StreamAlerts
	default:
		return StreamCases
	}
}
