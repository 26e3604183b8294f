# The few commands people run. Each is also spelled out in the README.
.PHONY: demo test test-race services lint bench fuzz

demo:        ## the main job: the engine on the embedded SQLite store
	go run ./cmd/evertask demo

test:        ## all tests; database tests skip when a server is down
	go test ./...

services:    ## start PostgreSQL, MariaDB and Redis if they are down
	scripts/services.sh

test-race: services  ## what CI runs
	EVERTASK_TEST_REQUIRE_SERVICES=1 go test -race ./...
	cd examples/customstore && go test -race ./...

lint:
	go vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"

bench:       ## engine and store benchmarks (quote medians: machines are noisy)
	go test -run '^$$' -bench . -count 5 . ./store/... ./schedule/

fuzz:        ## the schedule parsers, one minute each
	go test -run '^$$' -fuzz '^FuzzCron$$' -fuzztime 60s ./schedule/
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 60s ./schedule/
