package daemon

import (
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"
)

// notifier speaks systemd's sd_notify protocol when NOTIFY_SOCKET is set
// (Type=notify units) and does nothing otherwise.
type notifier struct {
	log zerolog.Logger
}

func systemdNotifier(log zerolog.Logger) notifier { return notifier{log: log} }

func (n notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn().Err(err).Str("state", state).Msg("systemd notify failed")
	}
}

func (n notifier) ready()     { n.send(daemon.SdNotifyReady) }
func (n notifier) reloading() { n.send(daemon.SdNotifyReloading) }
func (n notifier) stopping()  { n.send(daemon.SdNotifyStopping) }
func (n notifier) watchdog()  { n.send(daemon.SdNotifyWatchdog) }

// watchdogEvery is half of WatchdogSec (systemd's advice), 0 when off.
func (n notifier) watchdogEvery() time.Duration {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return 0
	}
	return every / 2
}
