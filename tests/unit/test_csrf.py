"""The one CSRF scheme (services/common/csrf.py) the console and the dashboard share."""

from __future__ import annotations

from services.common import csrf


def test_a_form_token_is_bound_to_the_access_token_and_its_jti():
    token = csrf.form_token("access-token", "jti-1")
    assert token == csrf.form_token("access-token", "jti-1")
    assert token != csrf.form_token("access-token", "jti-2")
    assert token != csrf.form_token("another-token", "jti-1")


def test_missing_values_never_match():
    nonce = csrf.sign_in_nonce()
    assert csrf.same(nonce, nonce)
    assert not csrf.same("", "")
    assert not csrf.same(nonce, "")
    assert not csrf.same("", nonce)
