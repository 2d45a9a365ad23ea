package jobfile

import (
	"os"
	"testing"
)

// FuzzTFStateLookup: no address makes tfstate panic, and a value it finds is what the
// same address finds again.
func FuzzTFStateLookup(f *testing.F) {
	data, err := os.ReadFile("testdata/ecspresso/terraform.tfstate")
	if err != nil {
		f.Fatal(err)
	}
	st, err := parseTFState(data)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"aws_iam_role.task.arn", `aws_iam_role.execution["batch"].arn`, "aws_iam_role.execution['web'].name",
		"module.vpc.aws_subnet.private[0].id", `module.app["batch"].aws_security_group.this.egress[0].cidr_blocks[0]`,
		"data.aws_caller_identity.current.account_id", "output.private_subnets[1]", "a.b[", "[0]", "x..y", `a["b]`, "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		v, err := st.lookup(addr)
		if err != nil {
			return
		}
		if again, err := st.lookup(addr); err != nil || again != v {
			t.Fatalf("%q: %q then %q, %v", addr, v, again, err)
		}
	})
}
