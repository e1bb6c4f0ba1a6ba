/** The one logger (pino, JSON lines on stderr). */
import pino from 'pino';

export const logger = pino({ name: 'stormproof', level: process.env.STORMPROOF_LOG_LEVEL ?? 'info' }, pino.destination(2));
