// Package inspect is the operator's side of evertask: reading tasks,
// queues and nodes, and acting on them (cancel, retry, run now, delete,
// purge, pause and resume a queue) without an engine of its own, from a
// CLI, a dashboard or a script, like asynq's Inspector.
//
// An Inspector works on a store.Store. Its actions are store writes any
// node can see: each is a compare-and-set on the row's status (so a racing
// engine wins or loses cleanly, never half), written with the task's own
// audit level so the status history shows it, followed by a cluster notice
// when the store has a store.Notifier, so the nodes act at once instead of
// at their next poll:
//
//   - Cancel writes Cancelled; the node running the task stops it on the
//     notice, or at its next lease renewal without a notifier.
//   - Retry and RunNow make the row due now; whichever node has a free
//     worker claims it.
//   - PauseQueue and ResumeQueue write the store's pause set
//     (store.QueuePauser); every node reads it at each poll and on the
//     notice.
//
// Engines on a store without store.Cluster run as the only process and do
// not look at the store for new work: there a Retry or RunNow is run at the
// engine's next start (recovery), and a Cancel of a running task is not
// seen by the process running it. Every built-in store implements
// store.Cluster.
package inspect
