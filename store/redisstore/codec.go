package redisstore

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Times are kept as integer unix microseconds; the empty string is "not
// set". Microseconds since the epoch stay far below 2^53, so Lua's doubles
// compare them exactly.
func micros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func parseMicros(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: %w", s, err)
	}
	return time.UnixMicro(v).UTC(), nil
}

// orderKey encodes a creation time so that byte order is time order: the
// unix microseconds with the sign bit flipped, as 16 hex digits.
func orderKey(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(t.UnixMicro())^(1<<63))
}

// member is the entry of a row in the (created, id) ordered indexes: every
// score is 0 and Redis orders equal scores by member bytes, so ZRANGEBYLEX
// walks rows by (created, id) and a keyset cursor is one exclusive bound,
// however many rows share a creation time. The canonical UUID text sorts
// like its 16 bytes (fixed dash positions, lowercase hex).
func member(created time.Time, id uuid.UUID) string {
	return orderKey(created) + id.String()
}

const memberLen = 16 + 36

func parseMember(m string) (store.Cursor, error) {
	if len(m) != memberLen {
		return store.Cursor{}, fmt.Errorf("bad index member %q", m)
	}
	u, err := strconv.ParseUint(m[:16], 16, 64)
	if err != nil {
		return store.Cursor{}, fmt.Errorf("bad index member %q: %w", m, err)
	}
	id, err := uuid.Parse(m[16:])
	if err != nil {
		return store.Cursor{}, fmt.Errorf("bad index member %q: %w", m, err)
	}
	return store.Cursor{CreatedAt: time.UnixMicro(int64(u ^ (1 << 63))).UTC(), ID: id}, nil
}

func cursorMember(c store.Cursor) string { return member(c.CreatedAt, c.ID) }

func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// definitionArgs are the field/value pairs of store.DefinitionFields.
func definitionArgs(t *store.Task) []any {
	return []any{
		"k", t.Kind,
		"p", t.Payload,
		"h", t.Handler,
		"q", t.Queue,
		"key", t.Key,
		"al", strconv.Itoa(int(t.AuditLevel)),
		"sa", micros(t.ScheduledAt),
		"r", boolField(t.Recurring),
		"sc", t.Schedule,
		"si", t.ScheduleInfo,
		"mr", strconv.Itoa(t.MaxRuns),
		"ru", micros(t.RunUntil),
		"nr", micros(t.NextRunAt),
		"md", store.EncodeMetadata(t.Metadata),
	}
}

// rowArgs are the field/value pairs of a whole row. The fields the scripts
// read and write come first: a small hash is a listpack, which Redis
// searches from its head for every field of an HMGET or HSET, so their
// place in the insertion order is their lookup cost. (The script puts "op"
// before all of them.)
func rowArgs(t *store.Task) []any {
	return []any{
		"s", string(t.Status),
		"q", t.Queue,
		"m", member(t.CreatedAt, t.ID),
		"r", boolField(t.Recurring),
		"rc", strconv.Itoa(t.RunCount),
		"mr", strconv.Itoa(t.MaxRuns),
		"nr", micros(t.NextRunAt),
		"le", micros(t.LastExecutionAt),
		"c", micros(t.CreatedAt),
		"ru", micros(t.RunUntil),
		"et", strconv.FormatInt(t.ExecutionTime.Microseconds(), 10),
		"e", t.Error,
		"key", t.Key,
		"rf", strconv.Itoa(t.RecoveryFailures),
		"id", t.ID.String(),
		"k", t.Kind,
		"h", t.Handler,
		"al", strconv.Itoa(int(t.AuditLevel)),
		"sa", micros(t.ScheduledAt),
		"sc", t.Schedule,
		"si", t.ScheduleInfo,
		"o", t.Owner,
		"lu", micros(t.LeaseUntil),
		"md", store.EncodeMetadata(t.Metadata), // read by no script; older code ignores it
		"p", t.Payload,
	}
}

// rowFields is the number of field/value pairs rowArgs returns.
var rowFields = len(rowArgs(&store.Task{CreatedAt: time.Unix(0, 0)})) / 2

// zeroWhenMissing are the fields whose "0" reads the same as no field at all
// (decodeTask and the scripts read a missing field as empty, and these as 0).
var zeroWhenMissing = map[string]bool{"r": true, "rc": true, "mr": true, "rf": true, "et": true}

// appendRowArgs appends the field/value pairs of rowArgs that carry a
// value: a new row leaves out its empty and zero fields. A typical row then
// has 10 fields instead of 24, and every HGETALL, HMGET and HSET on it walks
// a shorter listpack.
func appendRowArgs(args []any, t *store.Task) []any {
	all := rowArgs(t)
	for i := 0; i < len(all); i += 2 {
		switch v := all[i+1].(type) {
		case string:
			if v == "" || (v == "0" && zeroWhenMissing[all[i].(string)]) {
				continue
			}
		case []byte:
			if len(v) == 0 {
				continue
			}
		}
		args = append(args, all[i], all[i+1])
	}
	return args
}

// The fields of a row that decodeTask reads, numbered for rowText.
const (
	fID = iota
	fRC
	fMR
	fRF
	fC
	fSA
	fLE
	fRU
	fNR
	fLU
	fET
	fAL
	fK
	fH
	fQ
	fKey
	fS
	fE
	fR
	fSI
	fO
	fP
	fSC
	fMD
	numFields
)

var fieldNames = [numFields]string{
	fID: "id", fRC: "rc", fMR: "mr", fRF: "rf", fC: "c", fSA: "sa", fLE: "le", fRU: "ru", fNR: "nr", fLU: "lu",
	fET: "et", fAL: "al", fK: "k", fH: "h", fQ: "q", fKey: "key", fS: "s", fE: "e", fR: "r", fSI: "si", fO: "o",
	fP: "p", fSC: "sc", fMD: "md",
}

// fieldNum is the number of a row field decodeTask reads, or -1.
func fieldNum(name string) int {
	switch name {
	case "id":
		return fID
	case "rc":
		return fRC
	case "mr":
		return fMR
	case "rf":
		return fRF
	case "c":
		return fC
	case "sa":
		return fSA
	case "le":
		return fLE
	case "ru":
		return fRU
	case "nr":
		return fNR
	case "lu":
		return fLU
	case "et":
		return fET
	case "al":
		return fAL
	case "k":
		return fK
	case "h":
		return fH
	case "q":
		return fQ
	case "key":
		return fKey
	case "s":
		return fS
	case "e":
		return fE
	case "r":
		return fR
	case "si":
		return fSI
	case "o":
		return fO
	case "p":
		return fP
	case "sc":
		return fSC
	case "md":
		return fMD
	}
	return -1
}

// rowText holds a row's fields by number; a missing field is "".
type rowText [numFields]string

// decodeTask reads a row hash. Missing fields read as zero, so a partial
// read (HMGET of some fields) decodes too.
func decodeTask(h map[string]string) (*store.Task, error) {
	var r rowText
	for i, name := range fieldNames {
		r[i] = h[name]
	}
	return r.decode()
}

// decodeFlat reads a row as a script returns HGETALL: field, value, ...
// Reading it into rowText directly, instead of into a map first, keeps a
// claim's decoding of hundreds of rows cheap in the node's process.
func decodeFlat(flat []any) (*store.Task, error) {
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("bad row in script reply: %d values", len(flat))
	}
	var r rowText
	for i := 0; i < len(flat); i += 2 {
		name, _ := flat[i].(string)
		if n := fieldNum(name); n >= 0 {
			r[n], _ = flat[i+1].(string)
		}
	}
	return r.decode()
}

func (r *rowText) decode() (*store.Task, error) {
	t := &store.Task{}
	var err error
	if t.ID, err = uuid.Parse(r[fID]); err != nil {
		return nil, fmt.Errorf("bad task id %q: %w", r[fID], err)
	}
	ints := [...]struct {
		f int
		p *int
	}{{fRC, &t.RunCount}, {fMR, &t.MaxRuns}, {fRF, &t.RecoveryFailures}}
	for _, x := range ints {
		if v := r[x.f]; v != "" {
			if *x.p, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("task %s: bad %s %q: %w", t.ID, fieldNames[x.f], v, err)
			}
		}
	}
	times := [...]struct {
		f int
		p *time.Time
	}{
		{fC, &t.CreatedAt}, {fSA, &t.ScheduledAt}, {fLE, &t.LastExecutionAt},
		{fRU, &t.RunUntil}, {fNR, &t.NextRunAt}, {fLU, &t.LeaseUntil},
	}
	for _, x := range times {
		if *x.p, err = parseMicros(r[x.f]); err != nil {
			return nil, fmt.Errorf("task %s: %s: %w", t.ID, fieldNames[x.f], err)
		}
	}
	if v := r[fET]; v != "" {
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("task %s: bad execution time %q: %w", t.ID, v, err)
		}
		t.ExecutionTime = time.Duration(us) * time.Microsecond
	}
	if v := r[fAL]; v != "" {
		al, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("task %s: bad audit level %q: %w", t.ID, v, err)
		}
		t.AuditLevel = store.AuditLevel(al)
	}
	t.Kind = r[fK]
	t.Handler = r[fH]
	t.Queue = r[fQ]
	t.Key = r[fKey]
	t.Status = store.Status(r[fS])
	t.Error = r[fE]
	t.Recurring = r[fR] == "1"
	t.ScheduleInfo = r[fSI]
	t.Owner = r[fO]
	if v := r[fP]; v != "" {
		t.Payload = []byte(v)
	}
	if v := r[fSC]; v != "" {
		t.Schedule = []byte(v)
	}
	if t.Metadata, err = store.DecodeMetadata([]byte(r[fMD])); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	return t, nil
}

// Audit rows are "<id>|<at>|<status>|<error>" and runs audit rows
// "<id>|<at>|<execution µs>|<status>|<error>": the error text is the tail,
// so it may hold any byte.
func decodeStatusAudit(taskID uuid.UUID, s string) (store.StatusAudit, error) {
	f := strings.SplitN(s, "|", 4)
	if len(f) != 4 {
		return store.StatusAudit{}, fmt.Errorf("bad status audit %q", s)
	}
	id, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return store.StatusAudit{}, fmt.Errorf("bad status audit %q: %w", s, err)
	}
	at, err := parseMicros(f[1])
	if err != nil {
		return store.StatusAudit{}, err
	}
	return store.StatusAudit{ID: id, TaskID: taskID, At: at, Status: store.Status(f[2]), Error: f[3]}, nil
}

func decodeRunsAudit(taskID uuid.UUID, s string) (store.RunsAudit, error) {
	f := strings.SplitN(s, "|", 5)
	if len(f) != 5 {
		return store.RunsAudit{}, fmt.Errorf("bad runs audit %q", s)
	}
	id, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return store.RunsAudit{}, fmt.Errorf("bad runs audit %q: %w", s, err)
	}
	at, err := parseMicros(f[1])
	if err != nil {
		return store.RunsAudit{}, err
	}
	et, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return store.RunsAudit{}, fmt.Errorf("bad runs audit %q: %w", s, err)
	}
	return store.RunsAudit{
		ID: id, TaskID: taskID, ExecutedAt: at, ExecutionTime: time.Duration(et) * time.Microsecond,
		Status: store.Status(f[3]), Error: f[4],
	}, nil
}

// A log entry is "<sort key>|<at>|<len level>|<len message>|<level><message><details>"
// where the sort key is the log id as 32 hex digits and the sequence as 16
// (sign bit flipped): the per-task sorted set then orders by (ID, Seq).
const logSortKeyLen = 48

func logSortKey(l *store.ExecutionLog) string {
	return hex.EncodeToString(l.ID[:]) + fmt.Sprintf("%016x", uint64(int64(l.Seq))^(1<<63))
}

func encodeLog(l *store.ExecutionLog) string {
	var b strings.Builder
	b.Grow(logSortKeyLen + 40 + len(l.Level) + len(l.Message) + len(l.ErrorDetails))
	b.WriteString(logSortKey(l))
	fmt.Fprintf(&b, "|%s|%d|%d|", micros(l.At), len(l.Level), len(l.Message))
	b.WriteString(l.Level)
	b.WriteString(l.Message)
	b.WriteString(l.ErrorDetails)
	return b.String()
}

func decodeLog(taskID uuid.UUID, s string) (store.ExecutionLog, error) {
	bad := func() (store.ExecutionLog, error) {
		return store.ExecutionLog{}, fmt.Errorf("bad log entry %.80q", s)
	}
	if len(s) < logSortKeyLen+1 {
		return bad()
	}
	idb, err := hex.DecodeString(s[:32])
	if err != nil {
		return bad()
	}
	seq, err := strconv.ParseUint(s[32:48], 16, 64)
	if err != nil {
		return bad()
	}
	f := strings.SplitN(s[logSortKeyLen+1:], "|", 4)
	if len(f) != 4 {
		return bad()
	}
	at, err1 := parseMicros(f[0])
	nl, err2 := strconv.Atoi(f[1])
	nm, err3 := strconv.Atoi(f[2])
	rest := f[3]
	if err1 != nil || err2 != nil || err3 != nil || nl < 0 || nm < 0 || nl+nm > len(rest) {
		return bad()
	}
	l := store.ExecutionLog{
		TaskID:       taskID,
		At:           at,
		Level:        rest[:nl],
		Message:      rest[nl : nl+nm],
		ErrorDetails: rest[nl+nm:],
		Seq:          int(int64(seq ^ (1 << 63))),
	}
	copy(l.ID[:], idb)
	return l, nil
}
