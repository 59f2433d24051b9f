package eventsv1

import (
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// SchemaVersion is the payload schema version producers stamp on envelopes.
const SchemaVersion = 1

// payloadOneofDesc is looked up lazily: package variables initialize before
// the generated init registers the file descriptor.
var payloadOneofDesc = sync.OnceValue(func() protoreflect.OneofDescriptor {
	return (&Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("payload")
})

// TypeName returns the dotted event type of the envelope's payload, e.g.
// "petition.registered" or "case.review_requested", or "" without payload.
// The type is derived from the oneof field name (first "_" becomes "."), so a
// new payload gets its type name by construction.
func (e *Envelope) TypeName() string {
	fd := e.ProtoReflect().WhichOneof(payloadOneofDesc())
	if fd == nil {
		return ""
	}
	return typeOfField(fd)
}

func typeOfField(fd protoreflect.FieldDescriptor) string {
	return strings.Replace(string(fd.Name()), "_", ".", 1)
}

// Types lists every event type the contract defines, in field order.
func Types() []string {
	fields := payloadOneofDesc().Fields()
	out := make([]string, 0, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		out = append(out, typeOfField(fields.Get(i)))
	}
	return out
}

// SetPayload puts msg into the envelope's payload oneof and sets Type.
// It fails when msg is not one of the envelope's payload messages.
func (e *Envelope) SetPayload(msg proto.Message) error {
	name := msg.ProtoReflect().Descriptor().FullName()
	fields := payloadOneofDesc().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Message().FullName() == name {
			e.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(msg.ProtoReflect()))
			e.Type = typeOfField(fd)
			return nil
		}
	}
	return fmt.Errorf("set payload: %s is not an envelope payload", name)
}

// PayloadMessage returns the payload as a proto.Message, or nil.
func (e *Envelope) PayloadMessage() proto.Message {
	fd := e.ProtoReflect().WhichOneof(payloadOneofDesc())
	if fd == nil {
		return nil
	}
	return e.ProtoReflect().Get(fd).Message().Interface()
}
