"""The reference handler's pure functions against literal cases:
`python3 -m unittest discover -s scripts/reference` (no emulator; a second)."""

import base64
import hashlib
import hmac
import json
import os
import unittest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

import handler  # noqa: E402

SF = {"id": "a", "firstName": "Jane", "lastName": "Smith", "city": "San Francisco",
      "state": "California", "stateCode": "CA", "country": "United States",
      "countryCode": "US", "seniority": "vp"}
ZH = {"id": "b", "firstName": "Zoë", "lastName": "", "city": "Zürich", "country": "Switzerland",
      "countryCode": "CH", "seniority": "intern"}
W2 = {"contact": {"location": {"any": {"include": ["United States", "Germany", "France"]}},
                  "seniority": {"any": {"exclude": ["Intern", "Entry"]}}}}


def token(claims, secret=b"s"):
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps(claims).encode())
    sig = enc(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"Bearer {head}.{body}.{sig}"


class Filters(unittest.TestCase):
    def test_seniority_slugs(self):
        for written, slug in [("C-Suite", "c_suite"), ("CXO", "c_suite"), ("Vice President", "vp"),
                              ("Entry Level", "entry"), ("entry", "entry"), ("Co-Founder", "founder"),
                              ("Galactic  Emperor", "galactic_emperor")]:
            self.assertEqual(handler.seniority_slug(written), slug, written)

    def test_locations_are_hierarchical(self):
        def hit(term, lead):
            f = {"contact": {"location": {"any": {"include": [term]}}}}
            return handler.compile_filter(f)(lead)
        for term in ["San Francisco, CA", "california", "US", " united  states "]:
            self.assertTrue(hit(term, SF), term)
        for term in ["Berlin", "San Francisco, NY", ",", "zurich"]:
            self.assertFalse(hit(term, SF), term)
        self.assertTrue(hit("ZURICH, ch", ZH))

    def test_the_two_filters(self):
        matches = handler.compile_filter(W2)
        self.assertTrue(matches(SF))
        self.assertFalse(matches({**SF, "seniority": "Intern"}))
        self.assertFalse(matches({**SF, "seniority": "entry_level"}))
        self.assertTrue(matches({**SF, "seniority": None}))  # no value: not excluded
        self.assertFalse(matches(ZH))
        self.assertTrue(handler.compile_filter({})(ZH))

    def test_unsupported_keys_are_refused(self):
        with self.assertRaises(handler.HttpError) as e:
            handler.compile_filter({"contact": {"skill": {"any": {"include": ["go"]}}}})
        self.assertEqual(e.exception.status, 400)


class Csv(unittest.TestCase):
    def test_formula_guard(self):
        for cell in ["=1+1", "@SUM(A1)", "+SUM(A1)", "-2+3+cmd|'/C calc'!A0", " =1", "-1.5e3",
                     "\tx", "+\u00a01"]:
            self.assertEqual(handler.escape_formula(cell), "'" + cell, cell)
        for cell in ["+1-555-0100", "+49 30 1234567", "+1-555-0100, +1-555-0101", "-5", "-1.5",
                     "", "plain", "\uff1d1+1", "'=1", "\u22121"]:
            self.assertEqual(handler.escape_formula(cell), cell, cell)

    def test_rows(self):
        lead = {**SF, "emails": ["a@x.io", "b@x.io"], "languages": [{"language": "English"}],
                "company": {"name": 'Acme, "Inc"', "domain": "acme.io", "foundedYear": 2010,
                            "phones": ["=1+1"]}}
        fields = ["name", "emails", "languages", "companyName", "companyWebsite",
                  "companyPhone", "companyFoundedYear", "postalCode"]
        self.assertEqual(handler.render_csv(fields, [lead, ZH]).decode(),
                         "Name,Email(s),Languages,Company Name,Company Website,Company Phone(s),"
                         "Company Founded Year,Postal Code\r\n"
                         'Jane Smith,"a@x.io, b@x.io",English,"Acme, ""Inc""",https://acme.io,'
                         "'=1+1,2010,\r\n"
                         "Zoë,,,,,,,\r\n")


class Auth(unittest.TestCase):
    def test_tokens(self):
        good = {"org_id": "org-a", "exp": 2_000_000_000}
        self.assertEqual(handler.verify_token(token(good), b"s", now=1_900_000_000), "org-a")
        for bad, status in [(token(good, b"other"), 401), (token({**good, "exp": 1}), 401),
                            (token({"exp": 2_000_000_000}), 403), ("Bearer x.y", 401), (None, 401)]:
            with self.assertRaises(handler.HttpError) as e:
                handler.verify_token(bad, b"s", now=1_900_000_000)
            self.assertEqual(e.exception.status, status)


if __name__ == "__main__":
    unittest.main()
