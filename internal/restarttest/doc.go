// Package restarttest restarts database servers under a running engine and
// checks that no acknowledged task is lost. Its tests stop the shared
// server, so they run only when asked (EVERTASK_TEST_SERVER_RESTART=1) and
// .ci/run runs them alone, after the other tests.
package restarttest
