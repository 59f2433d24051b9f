package statistics

import (
	"encoding/json"

	eventsv1 "xinfang.io/proto/events/v1"
)

// V1StatesForTest folds events into case states in memory as the consumer
// does and returns each case's state JSON as version 1 stored it (without
// the fields version 2 added), for the upgrade test.
func V1StatesForTest(envs []*eventsv1.Envelope) (map[string]string, error) {
	cases := map[string]*caseState{}
	get := func(id string) *caseState {
		if cases[id] == nil {
			cases[id] = &caseState{}
		}
		return cases[id]
	}
	for _, env := range envs {
		if err := get(env.GetCaseId()).apply(env); err != nil {
			return nil, err
		}
		if o := env.GetPetitionRegistered().GetRepeatOf(); o != "" {
			get(o).HasRepeat = true
		}
	}
	out := map[string]string{}
	for id, c := range cases {
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		for _, k := range []string{"firstRouteDay", "acceptedDay", "declinedDay", "declinedDept", "matter", "seen",
			"routingDueChanged", "ackDueChanged", "ackDueChangedDept"} {
			delete(m, k)
		}
		raw, _ = json.Marshal(m)
		out[id] = string(raw)
	}
	return out, nil
}
