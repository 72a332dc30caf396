"""`make fuzz`: generated requests and Lambda events through the issuer's real handler on a
local stack, with a check after each one that a rejected request wrote nothing anywhere."""
