package store

import "unicode/utf8"

// ValidateQueueName checks the queue name of a QueuePauser call: not empty
// and valid UTF-8. The error wraps ErrInvalid.
func ValidateQueueName(queue string) error {
	switch {
	case queue == "":
		return errInvalid("empty queue name")
	case !utf8.ValidString(queue):
		return errInvalid("queue name is not valid UTF-8")
	}
	return nil
}
