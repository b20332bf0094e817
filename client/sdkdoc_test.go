package client_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/SDK.md is the integrators' guide to this package: every
// client.X, e2ee.X and protocol.X it names must exist and be exported,
// with the fields its struct literals set and the methods it calls on
// a Call (call.M) or a Conference (conf.M), so that a rename here
// cannot leave the guide behind.
func TestSDKGuideNamesOnlyExportedAPI(t *testing.T) {
	guide, err := os.ReadFile("../docs/SDK.md")
	if err != nil {
		t.Fatal(err)
	}
	api := readAPI(t, map[string]string{"client": ".", "e2ee": "e2ee", "protocol": "../protocol"})
	problems, checked := checkGuide(string(guide), api)
	for _, p := range problems {
		t.Error(p)
	}
	if checked < 40 {
		t.Errorf("only %d names checked: is the guide's code still written with client., e2ee., call. and conf.?", checked)
	}
}

// The check itself finds what it is for.
func TestSDKGuideCheckFindsUnknownNames(t *testing.T) {
	api := readAPI(t, map[string]string{"client": ".", "e2ee": "e2ee", "protocol": "../protocol"})
	bad := "`client.DialCall`, `e2ee.sealName`, `call.Hangup()`, `client.Options.Room`\n" +
		"```go\nc, _ := client.Dial(ctx, u, protocol.JoinRequest{Link: l}, client.Options{Secret: s, OnChat: func(b []byte) { _ = client.Options{Nme: 1} }})\n```\n"
	problems, _ := checkGuide(bad, api)
	for _, want := range []string{"client.DialCall", "e2ee.sealName", "call.Hangup", "client.Options.Room", "protocol.JoinRequest{Link", "client.Options{Secret", "client.Options{Nme"} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("no problem reported for %s; got %q", want, problems)
		}
	}
}

// api is what a package exports: top-level names, and per type its
// fields and methods.
type api struct {
	names   map[string]bool
	members map[string]map[string]bool // type -> field or method
}

func readAPI(t *testing.T, dirs map[string]string) map[string]api {
	t.Helper()
	out := map[string]api{}
	for pkg, dir := range dirs {
		a := api{names: map[string]bool{}, members: map[string]map[string]bool{}}
		member := func(typ, name string) {
			if a.members[typ] == nil {
				a.members[typ] = map[string]bool{}
			}
			a.members[typ][name] = true
		}
		fset := token.NewFileSet()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, dir+"/"+e.Name(), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil {
						a.names[d.Name.Name] = true
						continue
					}
					typ := d.Recv.List[0].Type
					if star, ok := typ.(*ast.StarExpr); ok {
						typ = star.X
					}
					if id, ok := typ.(*ast.Ident); ok {
						member(id.Name, d.Name.Name)
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						switch s := s.(type) {
						case *ast.ValueSpec:
							for _, n := range s.Names {
								a.names[n.Name] = true
							}
						case *ast.TypeSpec:
							a.names[s.Name.Name] = true
							st, ok := s.Type.(*ast.StructType)
							if !ok {
								continue
							}
							for _, fl := range st.Fields.List {
								for _, n := range fl.Names {
									member(s.Name.Name, n.Name)
								}
							}
						}
					}
				}
			}
		}
		out[pkg] = a
	}
	return out
}

var (
	// client.X, e2ee.X.Y, protocol.X
	qualifiedRE = regexp.MustCompile(`\b(client|e2ee|protocol)\.(\w+)(?:\.(\w+))?`)
	// call.M, conf.M: the guide's names for a *Call and a *Conference.
	receiverRE = regexp.MustCompile(`\b(call|conf)\.(\w+)`)
	// The start of a struct literal of ours in a code block.
	literalRE = regexp.MustCompile(`\b(client|protocol)\.(\w+)\{`)
	keyRE     = regexp.MustCompile(`\b([A-Za-z]\w*):`)
	goBlockRE = regexp.MustCompile("(?s)```go\n(.*?)```")
)

// checkGuide returns what the guide names that the packages do not
// export, and how many names it checked.
func checkGuide(guide string, apis map[string]api) (problems []string, checked int) {
	receivers := map[string]string{"call": "Call", "conf": "Conference"}
	for _, m := range qualifiedRE.FindAllStringSubmatch(guide, -1) {
		pkg, name, member := m[1], m[2], m[3]
		checked++
		a := apis[pkg]
		if !ast.IsExported(name) || !a.names[name] {
			problems = append(problems, "the guide names "+m[0]+", which "+pkg+" does not export")
			continue
		}
		if member != "" && (!ast.IsExported(member) || !a.members[name][member]) {
			problems = append(problems, "the guide names "+m[0]+": "+pkg+"."+name+" has no exported "+member)
		}
	}
	for _, m := range receiverRE.FindAllStringSubmatch(guide, -1) {
		checked++
		if typ := receivers[m[1]]; !ast.IsExported(m[2]) || !apis["client"].members[typ][m[2]] {
			problems = append(problems, "the guide calls "+m[0]+", which client."+typ+" does not have")
		}
	}
	for _, block := range goBlockRE.FindAllStringSubmatch(guide, -1) {
		code := block[1]
		for _, loc := range literalRE.FindAllStringSubmatchIndex(code, -1) {
			pkg, typ := code[loc[2]:loc[3]], code[loc[4]:loc[5]]
			for _, key := range literalKeys(code[loc[1]:]) {
				checked++
				if !apis[pkg].members[typ][key] {
					problems = append(problems, "the guide sets "+pkg+"."+typ+"{"+key+": …}, a field "+pkg+"."+typ+" does not have")
				}
			}
		}
	}
	return problems, checked
}

// literalKeys returns the keys of a struct literal's own fields, from
// just after its opening brace: keys of literals nested in it are
// deeper and not its.
func literalKeys(code string) []string {
	var keys []string
	depth := 1
	for i := 0; i < len(code) && depth > 0; i++ {
		switch code[i] {
		case '{', '(':
			depth++
		case '}', ')':
			depth--
		case '"':
			if j := strings.IndexByte(code[i+1:], '"'); j >= 0 {
				i += j + 1
			}
		default:
			if depth == 1 && (i == 0 || !isIdent(code[i-1])) {
				if m := keyRE.FindStringSubmatch(code[i:]); m != nil && strings.HasPrefix(code[i:], m[0]) {
					keys = append(keys, m[1])
					i += len(m[0]) - 1
				}
			}
		}
	}
	return keys
}

func isIdent(b byte) bool {
	return b == '_' || b == '.' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}
