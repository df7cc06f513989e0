"""Vietnamese names, ID numbers and organisations for the sample's parties (all invented)."""

from __future__ import annotations

import numpy as np

SURNAMES = (("Nguyễn", 38), ("Trần", 11), ("Lê", 9.5), ("Phạm", 7), ("Hoàng", 5), ("Phan", 4.5),
            ("Vũ", 4), ("Đặng", 2.1), ("Bùi", 2), ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3),
            ("Dương", 1), ("Lý", 0.5), ("Đinh", 0.8), ("Đào", 0.7), ("Lương", 0.5), ("Trịnh", 0.5))
MIDDLE_M = ("Văn", "Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Thanh", "Công", "Tiến", "Mạnh", "Ngọc")
MIDDLE_F = ("Thị", "Thị", "Thị", "Thu", "Ngọc", "Thanh", "Minh", "Hồng", "Kim", "Phương", "Thúy")
GIVEN_M = ("An", "Bình", "Cường", "Dũng", "Hùng", "Hải", "Hưng", "Long", "Minh", "Nam", "Phong", "Quân",
           "Sơn", "Thắng", "Tuấn", "Việt", "Khánh", "Trung", "Đức", "Hiếu", "Toàn", "Lâm", "Hòa", "Tùng",
           "Quyết", "Thành", "Vinh", "Đạt", "Kiên", "Phúc")
GIVEN_F = ("Anh", "Bích", "Chi", "Dung", "Hà", "Hằng", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga",
           "Ngọc", "Nhung", "Oanh", "Phương", "Quyên", "Thảo", "Trang", "Tuyết", "Vân", "Yến", "Thủy",
           "Hạnh", "Huyền", "Loan", "Liên", "Huệ")

BANKS = (
    "Ngân hàng TMCP Ngoại thương Việt Nam – Chi nhánh Quảng Ninh",
    "Ngân hàng TMCP Đầu tư và Phát triển Việt Nam – Chi nhánh Hạ Long",
    "Ngân hàng Nông nghiệp và Phát triển Nông thôn Việt Nam – Chi nhánh Quảng Ninh",
    "Ngân hàng TMCP Công Thương Việt Nam – Chi nhánh Quảng Ninh",
    "Ngân hàng TMCP Kỹ Thương Việt Nam – Chi nhánh Quảng Ninh",
    "Ngân hàng TMCP Quân đội – Chi nhánh Quảng Ninh",
    "Ngân hàng TMCP Việt Nam Thịnh Vượng – Chi nhánh Quảng Ninh",
    "Ngân hàng TMCP Sài Gòn Thương Tín – Chi nhánh Quảng Ninh",
)

_HOTEL = ("Ngọc Trai", "Biển Xanh", "Sao Biển", "Hải Âu", "Vịnh Ngọc", "Hòn Gai", "Phương Đông",
          "Thiên Đường", "Hoa Phượng", "Hoàng Gia", "Cánh Buồm", "Đảo Xanh", "Bình Minh", "Hạ Long Bay View")
_TRADE = ("Thành Đạt", "Hưng Thịnh", "Phú Cường", "Minh Long", "An Phát", "Quảng Hà", "Đông Bắc",
          "Tân Tiến", "Hòa Phát Hạ Long", "Việt Hàn", "Bắc Hải")


class Names:
    """Draws people and organisations from a seeded generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._sw = np.array([w for _, w in SURNAMES], dtype=float)
        self._sw /= self._sw.sum()
        self._ids: set[str] = set()

    def _choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def surname(self) -> str:
        return SURNAMES[int(self.rng.choice(len(SURNAMES), p=self._sw))][0]

    def person(self, female: bool | None = None, surname: str | None = None) -> tuple[str, bool]:
        if female is None:
            female = bool(self.rng.random() < 0.5)
        s = surname or self.surname()
        if female:
            return f"{s} {self._choice(MIDDLE_F)} {self._choice(GIVEN_F)}", True
        return f"{s} {self._choice(MIDDLE_M)} {self._choice(GIVEN_M)}", False

    def cccd(self, birth_year: int, female: bool) -> str:
        """Citizen ID: province 022 (Quảng Ninh), century-and-sex digit, year, six digits."""
        century = 0 if birth_year < 2000 else 2
        while True:
            n = f"022{century + int(female)}{birth_year % 100:02d}{int(self.rng.integers(10_000, 1_000_000)):06d}"
            if n not in self._ids:
                self._ids.add(n)
                return n

    def cmnd(self) -> str:
        while True:
            n = f"10{int(self.rng.integers(10_000_000)):07d}"
            if n not in self._ids:
                self._ids.add(n)
                return n

    def business_reg(self) -> str:
        while True:
            n = f"57{int(self.rng.integers(100_000_000)):08d}"
            if n not in self._ids:
                self._ids.add(n)
                return n

    def company(self, cls: str, place: str) -> str:
        r = self.rng.random()
        if cls == "SKS":
            return f"Công ty Cổ phần Than {place}" if r < 0.6 else f"Công ty TNHH Khai thác Khoáng sản {self._choice(_TRADE)}"
        if cls == "SKX":
            return f"Công ty Cổ phần Gạch ngói {place}" if r < 0.5 else f"Công ty TNHH Vật liệu Xây dựng {self._choice(_TRADE)}"
        if cls == "SKC":
            return f"Công ty TNHH Cơ khí {self._choice(_TRADE)}" if r < 0.5 else f"Công ty Cổ phần Chế biến Thủy sản {self._choice(_TRADE)}"
        if cls == "TMD":
            return (f"Công ty TNHH Khách sạn {self._choice(_HOTEL)}" if r < 0.6
                    else f"Công ty Cổ phần Du lịch {self._choice(_HOTEL)}")
        if cls == "RSX":
            return f"Công ty TNHH MTV Lâm nghiệp {place}"
        return f"Công ty TNHH Thương mại {self._choice(_TRADE)}"
