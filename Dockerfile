# syntax=docker/dockerfile:1
# Node 26 is the current LTS (Node 20 is past its end of life); the code itself
# keeps running on Node 20 and later (package.json engines), and CI runs the unit
# suite on Node 26 too.
# Build stage: compile TypeScript with the dev dependencies.
FROM node:26-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies only, non-root.
FROM node:26-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config/gatehouse.example.yaml ./config/gatehouse.example.yaml
USER node
EXPOSE 8443
ENV GATEHOUSE_CONFIG=/etc/gatehouse/config.yaml
# /healthz over https (a generated self-signed certificate is the default
# without certificate_file) or http (insecure_server): whichever answers.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "const p=process.env.GATEHOUSE_HEALTH_PORT||'8443';const ok=(r)=>{process.exit(r.statusCode===200?0:1)};require('node:https').get({host:'127.0.0.1',port:p,path:'/healthz',rejectUnauthorized:false},ok).on('error',()=>require('node:http').get({host:'127.0.0.1',port:p,path:'/healthz'},ok).on('error',()=>process.exit(1)))"
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
