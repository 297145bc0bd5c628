"""Names, bank accounts, devices and addresses for a simulation, all drawn from its one
`random.Random`, and unique where the detector would otherwise link strangers."""

from __future__ import annotations

import random

BANKS = ("0001", "0005", "0009", "0010", "0017", "0033", "0036", "0038")
_GIVEN = ("TARO", "HANAKO", "KENJI", "YUKI", "SATOSHI", "AIKO", "HIROSHI", "MEGUMI", "RYO", "EMI")
_FAMILY = ("SATO", "SUZUKI", "TAKAHASHI", "TANAKA", "ITO", "WATANABE", "YAMAMOTO", "NAKAMURA")
COUNTRIES_ABROAD = ("US", "TH", "KR", "FR", "AU", "SG")


class Identities:
    """Hands out identities; bank accounts and IP addresses are never handed out twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._accounts: set[tuple[str, str, str]] = set()
        self._ips: set[str] = set()
        self._devices = 0

    def holder(self) -> str:
        return f"{self.rng.choice(_FAMILY)} {self.rng.choice(_GIVEN)}"

    def destination(self, holder: str | None = None) -> dict[str, str]:
        """A bank account no one else in this simulation has."""
        while True:
            bank = self.rng.choice(BANKS)
            branch = f"{self.rng.randrange(100, 1000)}"
            number = f"{self.rng.randrange(10**6, 10**7)}"
            if (bank, branch, number) not in self._accounts:
                self._accounts.add((bank, branch, number))
                break
        dest = {"bank_code": bank, "branch_code": branch, "account_number": number}
        if holder is not None:
            dest["holder_name"] = holder
        return dest

    def device(self, kind: str) -> str:
        self._devices += 1
        return f"{kind}-{self._devices:07d}-{self.rng.getrandbits(24):06x}"

    def _unique(self, make: str) -> str:
        while True:
            ip = make.format(*(self.rng.randrange(1, 255) for _ in range(3)))
            if ip not in self._ips:
                self._ips.add(ip)
                return ip

    def home_ip(self) -> str:
        """A residential address (100.64.0.0/10, carrier space)."""
        return self._unique(f"100.{64 + self.rng.randrange(64)}" + ".{0}.{1}")

    def abroad_ip(self) -> str:
        """A hotel or roaming address (192.0.2.0/24 and 203.0.113.0/24 are too small)."""
        return self._unique(f"{self.rng.choice((45, 91, 121, 175))}" + ".{0}.{1}.{2}")

    def attacker_ip(self) -> str:
        """An attacker's address (198.18.0.0/15, the benchmarking range)."""
        return self._unique(f"198.{18 + self.rng.randrange(2)}" + ".{0}.{1}")
