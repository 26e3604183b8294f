package redisstore

import (
	"context"
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFS embed.FS

func mustLua(name string) string {
	b, err := luaFS.ReadFile("lua/" + name)
	if err != nil {
		panic(err) // embedded at build time: a missing file is a build mistake
	}
	return string(b)
}

// newScript builds a script from the shared helpers and one body. Scripts
// run with EVALSHA and fall back to EVAL when the server lost its script
// cache (a restart, SCRIPT FLUSH): go-redis Script.Run does exactly that.
func newScript(name string) *redis.Script {
	return redis.NewScript(mustLua("lib.lua") + "\n" + mustLua(name))
}

var (
	scriptPersist          = newScript("persist.lua")
	scriptTransition       = newScript("transition.lua")
	scriptTransitionMany   = newScript("transition_many.lua")
	scriptCompleteRun      = newScript("complete_run.lua")
	scriptUpdateRun        = newScript("update_run.lua")
	scriptEndSeries        = newScript("end_series.lua")
	scriptUpdateDefinition = newScript("update_definition.lua")
	scriptRemove           = newScript("remove.lua")
	scriptRecovery         = newScript("recovery.lua")
	scriptSaveLogs         = newScript("save_logs.lua")
	scriptPurge            = newScript("purge.lua")
	scriptPurgeFin         = newScript("purge_fin.lua")
	scriptPurgeStats       = newScript("purge_stats.lua")
	scriptRecordAttempt    = newScript("record_attempt.lua")
	scriptTrimLogs         = newScript("trim_logs.lua")
	scriptUpgradeV1        = newScript("upgrade_v1.lua")
	scriptUpgradeV2        = newScript("upgrade_v2.lua")
	scriptUpgradeV3        = newScript("upgrade_v3.lua")
	scriptClaim            = newScript("claim.lua")
	scriptRenew            = newScript("renew.lua")
	scriptRescue           = newScript("rescue.lua")
	scriptJoin             = newScript("join.lua")

	allScripts = []*redis.Script{
		scriptPersist, scriptTransition, scriptTransitionMany, scriptCompleteRun, scriptUpdateRun, scriptEndSeries,
		scriptUpdateDefinition, scriptRemove, scriptRecovery, scriptSaveLogs, scriptPurge, scriptPurgeFin, scriptPurgeStats,
		scriptUpgradeV1, scriptUpgradeV2, scriptUpgradeV3, scriptClaim, scriptRenew, scriptRescue, scriptJoin,
		scriptNow, scriptRecordAttempt, scriptTrimLogs,
	}
)

// loadScripts puts every script into the server's cache up front, so the
// first calls need no fallback.
func loadScripts(ctx context.Context, c redis.UniversalClient) error {
	for _, s := range allScripts {
		if err := s.Load(ctx, c).Err(); err != nil {
			return err
		}
	}
	return nil
}
