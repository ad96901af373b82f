export {
  AcrRefreshTokenMinter,
  type AcrRefreshTokenMinterOptions,
  jwtExpiryMs,
} from "./acrRefreshTokenMinter.js";
