// Package timerwheel provides a hashed timer wheel with intrusive timers for
// per-connection deadlines (TLS handshake, protocol step, WORK) on a gnet
// event loop.
//
// What it owns: the wheel's slot lists and the link fields inside each
// Timer. The Timer lives in the caller's session struct, so arming,
// re-arming and cancelling allocate nothing and a million live sessions cost
// one slice of slot heads plus a few words per session.
//
// What it must not touch, and why:
//   - No goroutines and no runtime timers: the point of the package is to
//     replace one runtime timer per connection with one wheel per loop.
//   - No clock: time.Now is never called. Every instant (start, deadlines,
//     now) is passed in, so production passes the loop's tick time and tests
//     pass a fake clock.
//   - No locks: a Wheel and its Timers belong to one event loop and are only
//     touched from it. Using a Wheel from two goroutines is a bug, not a
//     supported mode; the race detector will report it.
//   - No package-level mutable state.
//
// Semantics. Time is cut into ticks of length tick counted from start; tick
// k ends at start + k*tick. A deadline d is due at the end of the first tick
// ending at or after d (d rounded up to the tick). Advance(now) moves the
// wheel to the last tick ending at or before now and fires every armed timer
// that is then due, so a timer never fires before its deadline and, with
// Advance called once per tick, fires at most one tick late. A deadline that
// is already due when armed fires at the next Advance. A now earlier than the
// wheel's time does not move the wheel. After a long stall one Advance
// visits each slot at most once, so its work is bounded by the slot count
// plus the timers it fires, however long the gap.
//
// Within one Advance timers fire roughly, not strictly, in deadline order.
// A timer armed from inside the fire callback fires at a later Advance,
// never in the one running, so a callback that keeps re-arming into the past
// cannot loop forever.
package timerwheel
