package supervision

import (
	"slices"

	"xinfang.io/county"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/supervision/casemachine"
)

// CaseView is a case as the work API shows it.
type CaseView struct {
	CaseID        string               `json:"caseId"`
	State         casemachine.State    `json:"state"`
	Category      county.Category      `json:"category,omitempty"`
	Department    string               `json:"department,omitempty"`
	CoDepartments []string             `json:"coDepartments,omitempty"`
	Attempt       uint32               `json:"attempt"`
	AssignedOn    county.Date          `json:"assignedOn,omitzero"`
	Imported      bool                 `json:"imported,omitempty"`
	LeaderOwned   bool                 `json:"leaderOwned,omitempty"`
	LeaderOwner   string               `json:"leaderOwner,omitempty"`
	JointMeeting  bool                 `json:"jointMeeting,omitempty"`
	Overdue       bool                 `json:"overdue"`
	NextDue       county.Date          `json:"nextDue,omitzero"`
	Deadlines     []Deadline           `json:"deadlines"`
	Reply         *casemachine.Reply   `json:"reply,omitempty"`
	Service       *casemachine.Service `json:"service,omitempty"`
	Ratings       map[string]string    `json:"ratings,omitempty"`
	Review        *casemachine.Review  `json:"review,omitempty"`
	ReReview      *casemachine.Review  `json:"reReview,omitempty"`
	CloseReason   string               `json:"closeReason,omitempty"`
	Notices       []casemachine.Notice `json:"notices,omitempty"`
	Actions       []casemachine.Action `json:"allowedActions"`
	History       []HistoryEntry       `json:"history,omitempty"`
}

// Deadline is one clock of the case with the time left.
type Deadline struct {
	Clock        casemachine.ClockKind `json:"clock"`
	Start        county.Date           `json:"start"`
	Days         int                   `json:"days"`
	Unit         string                `json:"unit"`
	ExtendedDays int                   `json:"extendedDays,omitempty"`
	PausedDays   int                   `json:"pausedDays,omitempty"`
	Due          county.Date           `json:"due"`
	// Status: running, overdue (a running obligation past due), lapsed (a
	// window that ended), met, stopped.
	Status     string      `json:"status"`
	Supervised bool        `json:"supervised"`
	DaysLeft   *int        `json:"daysLeft,omitempty"` // calendar days to the due date; negative when overdue
	Ended      county.Date `json:"ended,omitzero"`
	Late       bool        `json:"late,omitempty"` // met after the due date
}

func (s *Supervision) view(cl *auth.Claims, c *casemachine.Case, today county.Date) *CaseView {
	v := &CaseView{
		CaseID: c.ID, State: c.State, Category: c.Category, Department: c.Department,
		CoDepartments: c.CoDepartments, Attempt: c.Attempt, AssignedOn: c.AssignedOn, Imported: c.Imported,
		LeaderOwned: c.LeaderOwned, LeaderOwner: c.LeaderOwner, JointMeeting: c.JointMeeting,
		NextDue: c.NextDue(), Reply: c.Reply, Service: c.Service, Ratings: c.Ratings, Review: c.Review,
		ReReview: c.ReReview, CloseReason: c.CloseReason, Notices: c.Notices, Deadlines: []Deadline{},
	}
	v.Overdue = !v.NextDue.IsZero() && v.NextDue.Before(today)
	for _, k := range c.Clocks {
		d := Deadline{Clock: k.Kind, Start: k.Start, Days: k.Days, Unit: k.Unit, ExtendedDays: k.ExtendedDays,
			PausedDays: k.Paused, Due: k.Due, Status: string(k.Status), Supervised: k.Kind.Supervised(), Ended: k.Ended, Late: k.Late()}
		if k.Status == casemachine.ClockRunning {
			left := k.Due.Sub(today)
			d.DaysLeft = &left
			if left < 0 {
				d.Status = "overdue"
				if !k.Kind.Supervised() {
					d.Status = string(casemachine.ClockLapsed)
				}
			}
		}
		v.Deadlines = append(v.Deadlines, d)
	}
	v.Actions = []casemachine.Action{}
	for _, a := range casemachine.Allowed(c) {
		ok := permitted(cl, c, casemachine.Command{Action: a}) == nil
		if a == casemachine.ActAnswerSupervision {
			ok = answerable(cl, c)
		}
		if ok {
			v.Actions = append(v.Actions, a)
		}
	}
	return v
}

// answerable: the caller's department has an unanswered notice on c.
func answerable(cl *auth.Claims, c *casemachine.Case) bool {
	return slices.ContainsFunc(c.Notices, func(n casemachine.Notice) bool {
		return n.AnsweredOn.IsZero() && (cl.Role == auth.RoleSupervisor || cl.Role == auth.RoleDepartment && n.Department == cl.Department)
	})
}
