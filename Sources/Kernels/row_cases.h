// A tile kernel specialized for each row count: FLR_ROW_CASES(n, rows, CALL) calls CALL(R) with the constant R
// equal to rows (1 <= rows <= n; rows above n take CALL(n)), so each tile's sums stay in registers. n is 4, 8, 10
// or 12.
#ifndef FLR_ROW_CASES_H
#define FLR_ROW_CASES_H

#define FLR_ROW_CASE(R, CALL) \
  case R: CALL(R); break;
#define FLR_ROW_CASES_BELOW_4(CALL) FLR_ROW_CASE(1, CALL) FLR_ROW_CASE(2, CALL) FLR_ROW_CASE(3, CALL)
#define FLR_ROW_CASES_BELOW_8(CALL) \
  FLR_ROW_CASES_BELOW_4(CALL) FLR_ROW_CASE(4, CALL) FLR_ROW_CASE(5, CALL) FLR_ROW_CASE(6, CALL) FLR_ROW_CASE(7, CALL)
#define FLR_ROW_CASES_BELOW_10(CALL) FLR_ROW_CASES_BELOW_8(CALL) FLR_ROW_CASE(8, CALL) FLR_ROW_CASE(9, CALL)
#define FLR_ROW_CASES_BELOW_12(CALL) FLR_ROW_CASES_BELOW_10(CALL) FLR_ROW_CASE(10, CALL) FLR_ROW_CASE(11, CALL)
#define FLR_ROW_CASES(n, rows, CALL) \
  switch (rows) {                    \
    FLR_ROW_CASES_BELOW_##n(CALL)    \
  default: CALL(n); break;           \
  }

#endif
