import pytest

from shared.contract.nip import InvalidNip, group_nip, mask_nip, validate_nip

GOOD = "198503122010011004"


def test_a_well_formed_nip_is_accepted():
    assert validate_nip(GOOD) == GOOD


@pytest.mark.parametrize(
    ("nip", "rule"),
    [
        ("19850312201001100", "18 digits"),
        ("1985031220100110045", "18 digits"),
        ("19850312201001100a", "18 digits"),
        ("１９８５０３１２２０１００１１００４", "18 digits"),  # full-width digits are not ASCII digits
        ("198502302010011004", "birth date"),  # 30 February
        ("198513012010011004", "birth date"),
        ("198503122010131004", "appointment"),  # month 13
        ("198503122010001004", "appointment"),  # month 00
        ("198503120000011004", "appointment"),  # year 0000
        ("198503122010013004", "digit 15"),
        ("198503122010010004", "digit 15"),
    ],
)
def test_each_rule_of_the_contract_is_enforced(nip, rule):
    with pytest.raises(InvalidNip, match=rule):
        validate_nip(nip)


def test_public_form_hides_the_middle_and_print_form_groups_8_6_1_3():
    assert mask_nip(GOOD) == "19850312******1004"
    assert group_nip(GOOD) == "19850312 201001 1 004"
