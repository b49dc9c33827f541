package devnet

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// user is the devnet's funded demo account.
type user struct {
	registry string // the local account registry (without a chain)
	apiKey   string // the session key, as an API key
	id       peer.ID
	session  peer.ID
	issuer   peer.ID
	// supporters commit to the model's offering (DIR/keys/supporter<i>.key).
	supporters []peer.ID
}

// makeAccounts creates the demo user's key (DIR/keys/user.key) and a
// session key for it (DIR/keys/user-session.key), and writes the local
// account registry (DIR/accounts.toml) that gives the user 1,000 usd of
// credit. Every node lets requests without an API key spend it.
func makeAccounts(out io.Writer, dir string, onChain bool) (user, error) {
	userKey, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "user.key"))
	if err != nil {
		return user{}, err
	}
	sessKey, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "user-session.key"))
	if err != nil {
		return user{}, err
	}
	apiKey, err := receipt.EncodeSessionKey(sessKey)
	if err != nil {
		return user{}, err
	}
	issuerKey, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "issuer.key"))
	if err != nil {
		return user{}, err
	}
	id, sess := identity.PeerID(userKey), identity.PeerID(sessKey)
	u := user{apiKey: apiKey, id: id, session: sess, issuer: identity.PeerID(issuerKey)}
	for i := 1; i <= supporters; i++ {
		sk, _, err := identity.LoadOrCreate(supporterKey(dir, i))
		if err != nil {
			return user{}, err
		}
		u.supporters = append(u.supporters, identity.PeerID(sk))
	}
	where := "the chain's genesis"
	if !onChain {
		where = "DIR/accounts.toml"
	}
	f := meter.AccountsFile{Account: []meter.RegistryAccount{{ID: id.String(), Credit: userCredit, SessionKeys: []string{sess.String()}}}}
	b, err := f.Encode()
	if err != nil {
		return user{}, err
	}
	u.registry = filepath.Join(dir, "accounts.toml")
	if err := os.WriteFile(u.registry, b, 0o600); err != nil {
		return user{}, err
	}
	fmt.Fprintf(out, "devnet: demo user %s with 1000 usd of credit in %s; API key %s (requests without a key are paid from it too)\n",
		id, where, apiKey)
	return u, nil
}
