// Package schedule computes the occurrences of recurring tasks: intervals,
// calendars (daily, weekly, monthly, at one or several times, in given
// months), cron expressions, time zones, run limits and the downtime rule.
//
// A Schedule is a plain value built fluently; each method returns a modified
// copy:
//
//	schedule.Daily().At(3, 0).In(berlin)
//	schedule.Weekly(time.Monday, time.Friday).At(9, 30)
//	schedule.Monthly().OnFirst(time.Monday).At(8, 0).Until(end).AtMost(12)
//	schedule.EveryMinutes(15).StartNow()
//	schedule.Cron("0 */6 * * MON-FRI")
//
// It is stored as JSON (Encode, Decode) next to a human description
// (String), and it satisfies interface{ Next(time.Time) time.Time }.
//
// # Semantics
//
//   - Every listed time runs: Daily().At(9, 0).At(14, 0) runs twice a day.
//   - A calendar's first run is its next slot: daily at 03:00 dispatched at
//     01:00 first runs today at 03:00. An interval's first run is one step
//     after the dispatch, unless StartNow, StartAt or StartAfter says
//     otherwise.
//   - Drift-free: the engine computes the next occurrence from the previous
//     scheduled time, never from when a run ended.
//   - Calendars are read in UTC unless In gives an IANA location; then
//     "daily at 03:00" means 03:00 local all year. A local time that does
//     not exist (the clock springs forward) runs at the next valid instant,
//     the end of the gap; one that occurs twice (the clock falls back) runs
//     once, at its first occurrence. Second, minute and hour intervals are
//     durations and ignore clock changes. Cron expressions follow Vixie
//     cron: fixed-time ones behave like calendars, wildcard ones (minute or
//     hour field starting with *) run whenever the clock shows a matching
//     time, so "0 * * * *" runs every real hour across both changes (see
//     Cron).
//   - RunUntil is exclusive; MaxRuns counts real executions (the engine
//     counts them; Exhausted, Advance and Upcoming apply them, Next cannot).
//   - Upcoming lists the runs a series has left with every limit applied:
//     s.Upcoming(first, 0, n) for a new one (First applies Start),
//     s.Upcoming(next, runs, n) for a stored one.
//   - Downtime: no catch-up burst. If exactly one occurrence was missed it
//     runs once, at once; if more were missed the series skips to the first
//     occurrence after now (Resume).
//   - Occurrences end with the year 9999; cron expressions that use L, W or
//     # end with 2099 (the limit of the cronexpr library behind them).
//
// # Use by an engine
//
//   - Dispatch: first, err := s.First(now); store s.Encode(), s.String(),
//     s.MaxRuns, s.RunUntil and NextRunAt = first.
//   - After each real run (runs counted, this one included): next :=
//     s.Advance(scheduled, now, runs); the zero time ends the series. Write
//     the run count and next together (store.CompleteRecurringRun).
//   - Recovery: s, err := Decode(row.Schedule) (an error ends the row
//     Failed); if s.Exhausted(row.RunCount) the series is over; else next :=
//     s.Resume(row.NextRunAt, now): a stored future next run is kept as is,
//     and the start options are never applied again.
package schedule
