// How many elements one typed array can hold in this engine: 2^32 in Node 20 (V8 11), 2^53 - 1 in newer
// engines (buffer.constants.MAX_LENGTH reports it). An output or a weight longer than this cannot be
// allocated at all, so ops and MoELayer refuse it by name before they try, instead of letting V8 throw its
// unnamed "Invalid typed array length" from inside a backend.

import { constants } from 'buffer';

export const MAX_TYPED_ARRAY_LENGTH: number = constants.MAX_LENGTH;
