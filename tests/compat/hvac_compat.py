"""hvac (the Python Vault client, from PyPI) against a Quartermaster server:
each call as hvac's users make it, with the response fields they read
asserted. Prints one line per call (ok / FAIL: why) and exits 1 if any
failed. Run by tests/integration/hvac_compat.rs with VAULT_ADDR and
VAULT_TOKEN (a root token) set."""
import os, sys
import hvac

url, token = os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"]
c = hvac.Client(url=url, token=token)
results = []

def t(name, fn):
    try:
        fn()
        results.append((name, None))
    except Exception as e:
        results.append((name, f"{type(e).__name__}: {str(e)[:200]}"))

sysb = c.sys
t("sys.read_health_status", lambda: sysb.read_health_status(method="GET"))
t("sys.read_seal_status", lambda: sysb.read_seal_status())
t("sys.is_initialized", lambda: sysb.is_initialized())
t("sys.read_leader_status", lambda: sysb.read_leader_status())
t("sys.get_encryption_key_status", lambda: sysb.get_encryption_key_status()["data"]["term"])
t("sys.rotate_encryption_key", lambda: sysb.rotate_encryption_key())
t("sys.list_mounted_secrets_engines", lambda: sysb.list_mounted_secrets_engines()["secret/"])
t("sys.read_mount_configuration", lambda: sysb.read_mount_configuration("secret")["default_lease_ttl"])
t("sys.tune_mount_configuration", lambda: sysb.tune_mount_configuration("secret", default_lease_ttl="1h"))
t("sys.move_backend", lambda: (sysb.enable_secrets_engine("kv-v2", path="moveme"), sysb.move_backend("moveme", "moved")))
t("sys.disable_secrets_engine", lambda: sysb.disable_secrets_engine("moved"))
t("sys.list_auth_methods", lambda: sysb.list_auth_methods()["token/"])
t("sys.enable_auth_method approle", lambda: sysb.enable_auth_method("approle"))
t("sys.read_auth_method_tuning", lambda: sysb.read_auth_method_tuning("approle")["default_lease_ttl"])
t("sys.tune_auth_method", lambda: sysb.tune_auth_method("approle", default_lease_ttl="1h"))
t("sys.create_or_update_policy", lambda: sysb.create_or_update_policy("p1", 'path "secret/*" { capabilities = ["read"] }'))
t("sys.read_policy rules", lambda: sysb.read_policy("p1")["rules"])
t("sys.read_policy data.rules", lambda: sysb.read_policy("p1")["data"]["rules"])
t("sys.list_policies", lambda: sysb.list_policies()["policies"])
t("sys.list_acl_policies", lambda: sysb.list_acl_policies()["data"]["keys"])
t("sys.read_acl_policy", lambda: sysb.read_acl_policy("p1")["data"]["policy"])
t("sys.create_or_update_acl_policy", lambda: sysb.create_or_update_acl_policy("p2", 'path "x/*" { capabilities = ["read"] }'))
t("sys.delete_policy", lambda: sysb.delete_policy("p2"))
t("sys.list_enabled_audit_devices", lambda: sysb.list_enabled_audit_devices())
t("sys.enable_audit_device", lambda: sysb.enable_audit_device("file", path="f1", options={"file_path": os.environ.get("HVAC_AUDIT_FILE", "/tmp/hvac-audit.log")}))
t("sys.calculate_hash", lambda: sysb.calculate_hash("f1", "input")["data"]["hash"])
t("sys.disable_audit_device", lambda: sysb.disable_audit_device("f1"))
t("sys.wrap", lambda: sysb.wrap({"a": "b"}, ttl="60s")["wrap_info"]["token"])
def wrapping():
    w = sysb.wrap({"a": "b"}, ttl="60s")["wrap_info"]["token"]
    look = c.adapter.post("/v1/sys/wrapping/lookup", json={"token": w})
    assert look["data"]["creation_path"] == "sys/wrapping/wrap", look
    un = c.sys.unwrap(w)
    assert un["data"]["a"] == "b", un
t("sys wrap/lookup/unwrap", wrapping)
t("sys.list_leases", lambda: sysb.list_leases("auth/token/create"))
def missing_lease():
    try:
        sysb.read_lease("nope/x")
    except hvac.exceptions.InvalidRequest as e:
        assert "invalid lease" in str(e), str(e)
        return
    raise AssertionError("a missing lease was found")
t("sys.read_lease (missing: 400 invalid lease, as Vault)", missing_lease)
t("sys.get_capabilities (self)", lambda: c.sys.get_capabilities(paths=["secret/data/x"]))
# token
tok = c.auth.token
t("token.create", lambda: tok.create(policies=["default"], ttl="1h")["auth"]["client_token"])
def token_flow():
    r = tok.create(policies=["default"], ttl="1h")
    t2, acc = r["auth"]["client_token"], r["auth"]["accessor"]
    tok.lookup(t2)
    tok.lookup_accessor(acc)
    tok.renew(t2, increment="30m")
    tok.renew_accessor(acc)
    tok.revoke_accessor(acc)
t("token lookup/lookup_accessor/renew/renew_accessor/revoke_accessor", token_flow)
t("token.lookup_self", lambda: tok.lookup_self())
t("token.list_accessors", lambda: tok.list_accessors())
t("token.create_orphan", lambda: tok.create_orphan(policies=["default"], ttl="1h"))
t("token.create_or_update_role", lambda: tok.create_or_update_role("r1", allowed_policies=["default"]))
t("token.read_role", lambda: tok.read_role("r1"))
t("token.list_roles", lambda: tok.list_roles())
t("token.revoke_self (child)", lambda: hvac.Client(url=url, token=tok.create(policies=["default"])["auth"]["client_token"]).auth.token.revoke_self())
t("token.tidy", lambda: tok.tidy())
# kv v2
kv2 = c.secrets.kv.v2
t("kv2.create_or_update_secret", lambda: kv2.create_or_update_secret("a/b", {"x": "1"}))
t("kv2.read_secret_version", lambda: kv2.read_secret_version("a/b", raise_on_deleted_version=True)["data"]["data"]["x"])
t("kv2.patch", lambda: kv2.patch("a/b", {"y": "2"}))
def cas():
    try:
        kv2.create_or_update_secret("a/b", {"x": "3"}, cas=0)
    except hvac.exceptions.InvalidRequest as e:
        assert "did not match the current version" in str(e), str(e)
        return
    raise AssertionError("a stale cas was accepted")
t("kv2 cas error says why", cas)
t("kv2.list_secrets", lambda: kv2.list_secrets("a"))
t("kv2.read_secret_metadata", lambda: kv2.read_secret_metadata("a/b"))
t("kv2.update_metadata", lambda: kv2.update_metadata("a/b", max_versions=5))
t("kv2.delete_latest_version_of_secret", lambda: kv2.delete_latest_version_of_secret("a/b"))
t("kv2.undelete_secret_versions", lambda: kv2.undelete_secret_versions("a/b", versions=[1]))
t("kv2.destroy_secret_versions", lambda: kv2.destroy_secret_versions("a/b", versions=[1]))
t("kv2.delete_metadata_and_all_versions", lambda: kv2.delete_metadata_and_all_versions("a/b"))
t("kv2.read_configuration", lambda: kv2.read_configuration())
t("kv2.configure", lambda: kv2.configure(max_versions=10))
# kv v1
t("sys.enable_secrets_engine kv1", lambda: sysb.enable_secrets_engine("kv", path="kv1", options={"version": "1"}))
kv1 = c.secrets.kv.v1
t("kv1.create_or_update_secret", lambda: kv1.create_or_update_secret("p", {"a": "b"}, mount_point="kv1"))
t("kv1.read_secret", lambda: kv1.read_secret("p", mount_point="kv1")["data"]["a"])
t("kv1.list_secrets", lambda: kv1.list_secrets("", mount_point="kv1")["data"]["keys"])
t("kv1.delete_secret", lambda: kv1.delete_secret("p", mount_point="kv1"))
# approle
ar = c.auth.approle
t("approle.create_or_update_approle", lambda: ar.create_or_update_approle("app", token_policies=["default"]))
t("approle.read_role", lambda: ar.read_role("app"))
t("approle.list_roles", lambda: ar.list_roles())
t("approle.read_role_id", lambda: ar.read_role_id("app")["data"]["role_id"])
def approle_flow():
    rid = ar.read_role_id("app")["data"]["role_id"]
    s = ar.generate_secret_id("app")["data"]
    ar.read_secret_id("app", s["secret_id"])
    ar.read_secret_id_accessor("app", s["secret_id_accessor"])
    ar.login(rid, s["secret_id"], use_token=False)
    ar.destroy_secret_id_accessor("app", s["secret_id_accessor"])
t("approle secret-id/lookup/accessor/login/destroy", approle_flow)
t("approle.list_secret_id_accessors", lambda: (ar.generate_secret_id("app"), ar.list_secret_id_accessors("app")["data"]["keys"]))
t("approle.delete_role", lambda: ar.delete_role("app"))
# cubbyhole and userpass
t("cubbyhole write/read", lambda: (c.write("cubbyhole/x", a="b"), c.read("cubbyhole/x")["data"]["a"]))
t("userpass enable", lambda: sysb.enable_auth_method("userpass"))
def userpass():
    c.auth.userpass.create_or_update_user("u1", password="pw-123456789", policies=["default"])
    assert "u1" in c.auth.userpass.list_user()["data"]["keys"]
    login = c.auth.userpass.login("u1", "pw-123456789", use_token=False)
    assert login["auth"]["client_token"], login
t("userpass create/list/login", userpass)

fails = [(n, e) for n, e in results if e]
for n, e in results:
    print(("ok    " if not e else "FAIL  ") + n + ("" if not e else "  -- " + e))
print(f"hvac: {len(results)-len(fails)} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
