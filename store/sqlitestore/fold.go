package sqlitestore

import (
	"database/sql/driver"

	"modernc.org/sqlite"

	"github.com/evertask/evertask/store"
)

// foldFunc is the SQL name of store.Fold. SQLite's lower() and LIKE fold
// only ASCII, so search registers the store package's simple Unicode case
// folding instead, the one every store applies to Filter.Search.
const foldFunc = "evertask_fold"

func sqlFold(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	switch v := args[0].(type) {
	case string:
		return store.Fold(v), nil
	case []byte:
		return store.Fold(string(v)), nil
	case nil:
		return nil, nil
	}
	return args[0], nil
}
