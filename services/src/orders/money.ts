/** The largest order total orders.total_amount (numeric(14,2)) and the event's totalAmount (12 digits) can hold. */
export const MAX_ORDER_TOTAL_CENTS = 99_999_999_999_999n;
