module example.com/customstore

go 1.26.0

require github.com/evertask/evertask v0.0.0

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/hashicorp/cronexpr v1.1.3 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
)

// The example builds against the checkout it lives in; a real store would
// require a released version instead.
replace github.com/evertask/evertask => ../..
