package supervision

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/supervision/casemachine"
)

// applyImported takes a lifecycle event from the cases stream. Supervision's
// own live events come back to it there and are ignored; imported history
// (intake's onboarding import) moves imported cases through the machine so
// their state, clocks and history match the county's records. Topics are not
// ordered with one another, so an imported event may arrive before its
// case's routing decision: it is parked and replayed when that arrives.
func (s *Supervision) applyImported(ctx context.Context, env *eventsv1.Envelope, cfg *county.Config) error {
	if !env.GetImported() {
		return nil
	}
	_, err := s.inbox.Apply(ctx, env.GetEventId(), func(tx *store.Tx) error {
		c, err := loadCase(ctx, tx, env.GetCaseId(), true)
		if err != nil {
			return err
		}
		if c == nil {
			return park(ctx, tx, env)
		}
		return s.importOne(ctx, tx, c, env, cfg)
	})
	if err != nil {
		return fmt.Errorf("apply imported %s: %w", env.TypeName(), err)
	}
	return nil
}

func (s *Supervision) importOne(ctx context.Context, tx *store.Tx, c *casemachine.Case, env *eventsv1.Envelope, cfg *county.Config) error {
	res, err := casemachine.Imported(c, env, s.env(cfg))
	if err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) {
			// History the machine cannot follow is a record to look at, not
			// to retry.
			return kafkatransport.Permanent(fmt.Errorf("case %s: %w", env.GetCaseId(), err))
		}
		return err
	}
	return s.persist(ctx, tx, c, res, cfg)
}

func park(ctx context.Context, tx *store.Tx, env *eventsv1.Envelope) error {
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO supervision_parked (case_id, occurred_at, event_id, event) VALUES (?, ?, ?, ?)`,
		env.GetCaseId(), store.FormatTime(env.GetOccurredAt().AsTime()), env.GetEventId(), b)
	return err
}

// replayParked applies the imported events that arrived before the case's
// routing decision, in the order they happened.
func (s *Supervision) replayParked(ctx context.Context, tx *store.Tx, caseID string, cfg *county.Config) error {
	rows, err := tx.Query(ctx, `SELECT event FROM supervision_parked WHERE case_id = ? ORDER BY occurred_at, event_id`, caseID)
	if err != nil {
		return err
	}
	var envs []*eventsv1.Envelope
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return err
		}
		var env eventsv1.Envelope
		if err := proto.Unmarshal(b, &env); err != nil {
			rows.Close()
			return err
		}
		envs = append(envs, &env)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, env := range envs {
		c, err := loadCase(ctx, tx, caseID, true)
		if err != nil {
			return err
		}
		if err := s.importOne(ctx, tx, c, env, cfg); err != nil {
			if kafkatransport.IsPermanent(err) {
				s.log.ErrorContext(ctx, "imported history not applied", "case_id", caseID, "event_id", env.GetEventId(), "error", err)
				continue
			}
			return err
		}
	}
	_, err = tx.Exec(ctx, `DELETE FROM supervision_parked WHERE case_id = ?`, caseID)
	return err
}
