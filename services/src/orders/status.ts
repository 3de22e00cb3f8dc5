export type OrderStatus = 'created' | 'paid' | 'shipped' | 'cancelled';
export type OrderCommand = 'pay' | 'ship' | 'cancel';

/** The order life cycle: created -> paid -> shipped, and created|paid -> cancelled. Everything else is refused. */
export const TRANSITIONS: Record<OrderCommand, { from: readonly OrderStatus[]; to: OrderStatus }> = {
  pay: { from: ['created'], to: 'paid' },
  ship: { from: ['paid'], to: 'shipped' },
  cancel: { from: ['created', 'paid'], to: 'cancelled' },
};

export function nextStatus(current: OrderStatus, command: OrderCommand): OrderStatus | undefined {
  const transition = TRANSITIONS[command];
  return transition.from.includes(current) ? transition.to : undefined;
}
